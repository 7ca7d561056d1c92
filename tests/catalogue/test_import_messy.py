"""Messy exports users bring (exploratory QA of ``python -m rag import``): each test is a
bug that was found on a variant of the seed export, then fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.catalogue.corpus import load_corpus
from rag.catalogue.export_format import decode_export
from rag.catalogue.fiche import PARTENAIRES
from rag.catalogue.importer import import_export, parse_export
from rag.catalogue.places import Place, load_places

ROOT = Path(__file__).resolve().parents[2]
DENYLIST = ROOT / "corpus" / "denylist.txt"
PLACES = ROOT / "corpus" / "places.csv"


def export(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def titles_by_id(out: Path) -> dict[str, str]:
    return {fiche.id: fiche.title for fiche in load_corpus(out).fiches}


def test_a_later_export_updates_the_slug_twin_it_names_not_the_first_one(tmp_path):
    """Two titles with the same slug (or the same first 80 characters) got ``x`` and
    ``x-2``; a later export holding only the second one overwrote ``x`` (the first
    fiche was lost, the second one then existed twice)."""
    out = tmp_path / "fiches"
    import_export(export(tmp_path / "a.txt", "Même titre", "Même titre", "Description", "Un.",
                         "MÊME TITRE !", "MÊME TITRE !", "Description", "Deux."), out, DENYLIST)
    assert titles_by_id(out) == {"meme-titre": "Même titre", "meme-titre-2": "MÊME TITRE !"}
    report = import_export(export(tmp_path / "b.txt", "MÊME TITRE !", "MÊME TITRE !", "Description",
                                  "Deux, corrigé."), out, DENYLIST)
    assert [f.id for f in report.fiches] == ["meme-titre-2"]
    fiches = {f.id: f for f in load_corpus(out).fiches}
    assert fiches["meme-titre"].sections == {"Description": "Un."}
    assert fiches["meme-titre-2"].sections == {"Description": "Deux, corrigé."}


def test_slug_twins_stay_apart_when_importing_after_a_killed_import(tmp_path):
    """After an import killed between its two renames (the catalogue only in
    ``.fiches.old-*``), the ids of the catalogue's files were read before the folder was
    put back: none were seen, and the second slug twin overwrote the first one."""
    out = tmp_path / "fiches"
    import_export(export(tmp_path / "a.txt", "Même titre", "Même titre", "Description", "Un.",
                         "MÊME TITRE !", "MÊME TITRE !", "Description", "Deux."), out, DENYLIST)
    out.rename(tmp_path / ".fiches.old-k1ll3d")  # the state between write_fiches' two renames
    (tmp_path / ".fiches.new-k1ll3d").mkdir()
    report = import_export(export(tmp_path / "b.txt", "MÊME TITRE !", "MÊME TITRE !", "Description",
                                  "Deux, corrigé."), out, DENYLIST)
    assert [f.id for f in report.fiches] == ["meme-titre-2"]
    assert titles_by_id(out) == {"meme-titre": "Même titre", "meme-titre-2": "MÊME TITRE !"}


def test_a_new_slug_twin_in_a_later_export_gets_a_free_id(tmp_path):
    out = tmp_path / "fiches"
    import_export(export(tmp_path / "a.txt", "Même titre", "Même titre", "Description", "Un."), out, DENYLIST)
    report = import_export(export(tmp_path / "b.txt", "Même titre ?", "Même titre ?", "Description",
                                  "Autre."), out, DENYLIST)
    assert titles_by_id(out) == {"meme-titre": "Même titre", "meme-titre-2": "Même titre ?"}
    assert "« meme-titre » déjà pris" in report.warnings[0]
    assert import_export(tmp_path / "b.txt", out, DENYLIST).written == []  # idempotent


def test_a_missing_title_taken_from_the_last_value_is_reported():
    """A fiche without its title line: the previous fiche's last value became its title
    and left the field empty, silently."""
    report = parse_export("\n".join([
        "Titre A", "Titre A", "Description", "A.", "Partenaires associés", "Agence X",
        "Description", "Texte de la fiche sans titre.", "Ville", "Rennes"]), [], source="t.txt")
    assert [f.title for f in report.fiches] == ["Titre A", "Agence X"]
    assert PARTENAIRES not in report.fiches[0].metadata
    assert report.warnings == [
        "t.txt:6: « Agence X » lu comme le titre d'une nouvelle fiche : le champ « Partenaires associés » "
        "de « Titre A » reste vide ; si c'était sa valeur, le titre de la fiche suivante manque dans l'export"]


@pytest.mark.parametrize(("ville", "place"), [
    ("Lyon (69)", Place("Lyon", "Rhône (69)", "Auvergne-Rhône-Alpes")),
    ("Ille-et-Vilaine (35)", Place("", "Ille-et-Vilaine (35)", "Bretagne")),  # the stored form itself
    ("Saint-Denis (974)", Place("", "La Réunion (974)", "La Réunion")),  # not the Saint-Denis of the table
    ("Trifouilly (29)", Place("", "Finistère (29)", "Bretagne")),
    ("Paris 11e", Place("Paris", "Paris (75)", "Île-de-France")),
    ("Lyon 3ème arrondissement", Place("Lyon", "Rhône (69)", "Auvergne-Rhône-Alpes")),
    ("Marseille 1er", Place("Marseille", "Bouches-du-Rhône (13)", "Provence-Alpes-Côte d'Azur")),
    ("Bretagne (53)", Place("", "", "Bretagne")),  # a région's INSEE code, not Mayenne
])
def test_ville_with_a_departement_number_or_an_arrondissement_is_located(ville, place):
    assert load_places(PLACES).locate(ville) == place


def test_mojibake_export_is_repaired_with_a_warning():
    """UTF-8 read as cp1252 and saved again (« Ã© » for « é »): headings and labels went
    unrecognised (« RÃ©alisations »), values went to the wrong field."""
    lines = ["Élan d’été", "Élan d’été", "Réalisations", "Déjà fait à 100 %.", "Partenaires associés",
             "Agence Œuvre"]
    data = "\n".join(lines).encode("utf-8").decode("cp1252").encode("utf-8")
    text, warnings = decode_export(data, "x.txt")
    assert text.split("\n") == lines
    assert warnings == ["x.txt:1: 6 ligne(s) mal encodée(s) (« Ã© » pour « é ») réparée(s) ; vérifiez les accents"]


def test_correct_text_with_capital_accents_is_left_alone():
    data = "ÂGE ET ÉTÉ : Ãngela, São Tomé, “citation”\nâme".encode()
    assert decode_export(data, "x.txt") == (data.decode(), [])


REPAIRED = "x.txt:1: 1 ligne(s) mal encodée(s) (« Ã© » pour « é ») réparée(s) ; vérifiez les accents"
UNREPAIRED = ("x.txt:1: 1 ligne(s) semblent mal encodée(s) (« Ã© » pour « é ») mais n'ont pas pu être "
              "réparée(s) : corrigez-les dans l'export")


@pytest.mark.parametrize(("line", "fixed"), [
    ("TÃ©lÃ©phone Ã  lâ€™accueil", "Téléphone à l’accueil"),
    ("Bienvenue Ã  Brest", "Bienvenue à Brest"),
    ("c'est-Ã -dire, voilÃ .", "c'est-à-dire, voilà."),
    ("Il est dÃ©jÃ", "Il est déjà"),  # the space at the line end trimmed
    ("Il est dÃ©jÃ\r", "Il est déjà\r"),
])
def test_mojibake_whose_non_breaking_space_became_a_space_is_repaired(line, fixed):
    """« à » mis-encoded is « Ã » + a non-breaking space, which editors turn into a plain
    space: such lines came back unchanged and without a warning."""
    assert decode_export(f"{line}\nsuite".encode(), "x.txt") == (f"{fixed}\nsuite", [REPAIRED])


@pytest.mark.parametrize("line", [
    "Bienvenue Ã Brest",  # the two spaces of « Ã  » collapsed: « àBrest » would be a guess
    "Ã©tÃ© à Brest",  # partly retyped: not one cp1252 reading of UTF-8 any more
    "Prix : 5 € lâ€™Ã©tÃ©",
])
def test_mojibake_that_cannot_be_repaired_is_left_with_a_warning(line):
    assert decode_export(line.encode(), "x.txt") == (line, [UNREPAIRED])


def test_a_capital_a_tilde_ending_a_word_after_a_capital_is_correct_text():
    data = "IRMÃ DULCE, JOÃO, SÃO PAULO, Ãngela\nAMANHÃ".encode()
    assert decode_export(data, "x.txt") == (data.decode(), [])


def test_an_unreadable_md_entry_is_reported_and_the_others_load(tmp_path):
    """A folder named ``x.md`` in the catalogue crashed loading (and importing into it)
    with an English IsADirectoryError traceback."""
    out = tmp_path / "fiches"
    import_export(export(tmp_path / "a.txt", "Fiche A", "Fiche A", "Description", "A."), out, DENYLIST)
    (out / "dossier.md").mkdir()
    load = load_corpus(out)
    assert [f.id for f in load.fiches] == ["fiche-a"]
    assert [(e.path, e.reason) for e in load.errors] == [
        (str(out / "dossier.md"), "dossier nommé comme une fiche : renommez-le")]
    report = import_export(export(tmp_path / "b.txt", "Fiche B", "Fiche B", "Description", "B."), out, DENYLIST)
    assert [f.id for f in report.fiches] == ["fiche-b"] and sorted(titles_by_id(out)) == ["fiche-a", "fiche-b"]
