"""The importer: the seed's 10 fiches, and each quirk of the export form on a small export."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from rag.catalogue.cleaning import clean_line, dedup_lines
from rag.catalogue.fiche import CONTACT, LIEN, MOT_CLEF, PARTENAIRES, VILLE
from rag.catalogue.importer import import_export, parse_export
from rag.catalogue.spam import is_spam, load_denylist, mask_spam
from rag.errors import ImportFailed

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "corpus" / "raw" / "000_d9e11f9bb21b0018.txt"
DENYLIST = ROOT / "corpus" / "denylist.txt"
SPAM = ["floodcrm", "floodcrm.email"]

D, E, C, M, R, P = ("Description", "Enjeux", "Convictions", "Méthodologie mise en place",
                    "Réalisations", "Pour aller plus loin")

# Expected values read by eye from the raw seed export (title line, sections, metadata).
SEED_FICHES = [
    ("Accueil en Mairie de brest", [D, E, C, M, R], "Brest", ["Agence DETEA"]),
    ("Co-conception de la Mairie de Nantes Sud", [D, E, C, M, R], "Nantes",
     ["Agence Grrr", "Mairie de Nantes Sud"]),
    ("D’une MSAP à une Maison France Service en Vendée", [E, C, M], "vendée",
     ["Agence Grrr (Jacky Foucher, designer) et Elvire Bornand, sociologue"]),
    ("Etat des lieux de la première année d'un citoyen étranger à Nantes", [E, M, R], "Nantes",
     ["Conseil nantais pour la citoyenneté des étrangers (CNCE)", "Agence Grrr"]),
    ("Innov'Accueil, une démarche d'amélioration de l'accueil en Préfecture", [D, E, M, R],
     "106 rue Pierre Corneille, Lyon", ["Préfecture du Rhône à Lyon", "Laboratoire @rchipel"]),
    ("L'accueil à Saint Denis sur un espace de médiation numérique en test", [D, E, C, M, R],
     "Saint Denis", []),
    ("L'accueil au sein de l'Espace France Services de Saint Méen le Grand", [D, E, C, M, R],
     "Saint Méen le Grand", ["Communauté de communes de Saint Méen Montauban",
                             "Agence départementale du Pays de Brocéliande - Ille-et-Vilaine",
                             "Le LabAccès (Askoria, Ti Lab, Designers éthiques)"]),
    ("L'accueil dans la relation à l'usager à la Région Bretagne", [D, E, C, M, R], "Bretagne", []),
    ("L'accueil en CDAS, Département du Finistère", [D, E, C, M, R], "Quimper",
     ["Département du Finistère", "Collectif DETEA"]),
    ("L'accueil et la relation administrative en Quartier politique de la ville et en Zone de "
     "Montagne", [D, E, M, R], "Saint Gaudens",
     ["Lab Incubo, Préfecture Occitanie", "Liberté Living Lab", "Sous-préfecture de Saint Gaudens"]),
]
SEED_TITLE_LINES = [1, 56, 85, 119, 148, 187, 232, 287, 347, 392]


def parse(*lines: str):
    """Parse a small export given as lines."""
    return parse_export("\n".join(lines), SPAM, source="t.txt")


def meta(*pairs: str) -> list[str]:
    return list(pairs)


FICHE_B = ["Deuxième fiche", "Deuxième fiche", "Description", "Texte B.", "Ville", "Rennes"]


@pytest.fixture(scope="module")
def seed():
    return parse_export(SEED.read_text(encoding="utf-8"), load_denylist(DENYLIST), source=str(SEED))


def test_seed_gives_its_ten_fiches_with_sections_and_metadata(seed):
    assert [f.title for f in seed.fiches] == [t for t, *_ in SEED_FICHES]
    for fiche, (_, sections, ville, partners) in zip(seed.fiches, SEED_FICHES, strict=True):
        assert list(fiche.sections) == sections, fiche.title
        assert fiche.metadata[VILLE] == ville
        assert fiche.values(PARTENAIRES) == partners
    assert len({f.id for f in seed.fiches}) == 10
    assert seed.warnings == []


def test_seed_cleaning_counts(seed):
    assert seed.removed == {"doubled_title": 10, "repeated_line": 68, "repeated_run": 17,
                            "spam_line": 7, "spam_url": 1, "empty_link": 2}


def test_seed_no_spam_no_repeats_and_texts_kept_verbatim(seed):
    assert "floodcrm" not in json.dumps([f.to_json() for f in seed.fiches]).lower()
    for fiche in seed.fiches:
        for name, text in fiche.sections.items():
            lines = text.split("\n")
            assert len(lines) == len(set(lines)), (fiche.title, name)
    brest, nantes, vendee, _, _, denis, _, region, cdas, last = seed.fiches
    assert brest.values(MOT_CLEF) == ["Education"] and brest.first(LIEN).endswith("article22276.html")
    assert len(brest.sections[C].split("\n")) == 8
    assert vendee.sections[M].split("\n") == [
        "- Bînome designer et sociologue", "- Immersion dans 2 Maisons de Services Au Public (MSAP)",
        "- Synthèse et préconisations",
        "- Organisation d'un atelier de co-conception avec la Préfecture et les opérateurs", "- Synthèse"]
    assert denis.sections[D].split("\n")[1] == (
        "-Réalisation d'un semainier de l'offre aux démarches en ligne sur la commune.")
    assert CONTACT not in denis.metadata and LIEN not in region.metadata and LIEN not in cdas.metadata
    assert MOT_CLEF not in nantes.metadata
    assert "cerLiberté tain.e.s" in last.sections[R]  # the authors' typo is kept
    assert last.metadata[CONTACT] == "Liverté Living Lab"


def test_unseen_export_same_form_renamed_and_reordered():
    lines = SEED.read_text(encoding="utf-8").split("\n")
    starts = [n - 1 for n in SEED_TITLE_LINES] + [len(lines)]
    blocks = []
    for k, (a, b) in enumerate(itertools.pairwise(starts)):
        new_title = f"Initiative inconnue numéro {k}"
        blocks.append([new_title, new_title] + lines[a + 2:b])
    text = "\n".join(line for block in reversed(blocks) for line in block)
    report = parse_export(text, SPAM, source="autre.txt")
    assert [f.title for f in report.fiches] == [f"Initiative inconnue numéro {k}" for k in range(9, -1, -1)]
    assert [list(f.sections) for f in report.fiches] == [s for _, s, _, _ in reversed(SEED_FICHES)]


def test_doubled_title_kept_once():
    report = parse("Mon titre", "Mon titre", "Description", "Un texte.")
    assert [f.title for f in report.fiches] == ["Mon titre"]
    assert report.fiches[0].id == "mon-titre" and report.removed["doubled_title"] == 1


def test_doubled_paragraph_before_heading_is_not_a_title():
    report = parse("Titre A", "Titre A", "Description", "Premier.", "Court sans point", "Court sans point",
                   "Enjeux", "Un enjeu.", "-Item", "-Item", "Convictions", "Une conviction.")
    assert len(report.fiches) == 1
    assert report.fiches[0].sections == {D: "Premier.\nCourt sans point", E: "Un enjeu.\n-Item",
                                         C: "Une conviction."}


def test_fiche_starting_at_enjeux():
    report = parse("Titre A", "Titre A", "Description", "A.", "Ville", "Paris",
                   "Titre B", "Titre B", "Enjeux", "B.")
    assert [(f.title, list(f.sections)) for f in report.fiches] == [("Titre A", [D]), ("Titre B", [E])]


@pytest.mark.parametrize("ending", [
    ["Réalisations", "FloodCRM"],
    ["Pour aller plus loin", "FloodCRM", "FloodCRM"],
    ["Lien Web si existant"],
    ["Comment contacter cette initiative?", "https://floodcrm.email/"],
    ["Partenaires associés", "Agence X", "Agence X"],
])
def test_fiche_ending_on_spam_empty_field_or_spam_url(ending):
    report = parse("Titre A", "Titre A", "Description", "A.", "Ville", "Paris", *ending, *FICHE_B)
    a, b = report.fiches
    assert (a.title, b.title) == ("Titre A", "Deuxième fiche")
    assert a.sections == {D: "A."} and b.metadata == {VILLE: "Rennes"}
    assert "floodcrm" not in json.dumps(a.to_json()).lower()


def test_more_section_after_metadata_and_doubled_value_before_it():
    report = parse("Titre A", "Titre A", "Description", "A.", "Partenaires associés", "Agence X",
                   "Agence X", "Pour aller plus loin", "Voir le guide.", "FloodCRM", *FICHE_B)
    a, b = report.fiches
    assert list(a.sections) == [D, P] and a.sections[P] == "Voir le guide."
    assert a.values(PARTENAIRES) == ["Agence X"] and b.title == "Deuxième fiche"
    assert report.warnings == []


def test_doubled_metadata_value_right_before_next_doubled_title():
    report = parse("Titre A", "Titre A", "Description", "A.", "Partenaires associés", "Agence X",
                   "Mairie Y", "Mairie Y", "Titre B", "Titre B", "Description", "B.")
    a, b = report.fiches
    assert a.values(PARTENAIRES) == ["Agence X", "Mairie Y"] and b.title == "Titre B"


def test_doubled_title_after_a_fiche_without_metadata():
    report = parse("Titre A", "Titre A", "Description", "A.", "Réalisations", "Fait.",
                   "Titre B", "Titre B", "Enjeux", "B.", "Titre C", "Titre C", "Enjeux", "C.")
    assert [(f.title, list(f.sections)) for f in report.fiches] == [
        ("Titre A", [D, R]), ("Titre B", [E]), ("Titre C", [E])]


def test_undoubled_title_after_metadata():
    report = parse("Titre A", "Description", "A.", "Ville", "Paris", "Titre B", "Enjeux", "B.",
                   "Lien Web si existant", "Titre C", "Description", "C.")
    assert [f.title for f in report.fiches] == ["Titre A", "Titre B", "Titre C"]


def test_single_value_before_a_late_section_is_not_a_title():
    report = parse("Titre A", "Titre A", "Description", "A.", "Ville", "Paris", "Réalisations", "Fait.")
    assert report.fiches[0].metadata == {VILLE: "Paris"} and report.fiches[0].sections == {D: "A.", R: "Fait."}
    assert report.warnings == ["t.txt:7: rubrique « Réalisations » après les métadonnées, rattachée à « Titre A »"]


def test_unknown_heading_kept_and_known_ones_matched_loosely():
    report = parse("Titre A", "Titre A", "DESCRIPTION :", "Un paragraphe fini.", "Contexte local",
                   "Un long paragraphe qui explique le contexte de cette initiative.",
                   "methodologie", "- une étape", "Réalisation", "Fait.")
    fiche = report.fiches[0]
    assert list(fiche.sections) == [D, "Contexte local", M, R]
    assert fiche.sections["Contexte local"].startswith("Un long paragraphe")
    assert report.warnings == ["t.txt:5: rubrique inconnue « Contexte local » gardée comme section"]


def test_short_list_items_are_not_unknown_headings():
    report = parse("Titre A", "Titre A", "Méthodologie mise en place", "Les étapes :", "Immersion",
                   "Ateliers avec les agents", "Prototypage des bornes")
    assert list(report.fiches[0].sections) == [M]


def test_empty_links_dropped():
    report = parse("Titre A", "Titre A", "Description", "Voir le site http:// pour plus.",
                   "Lien Web si existant", "http://", "Partenaires associés", "https://")
    fiche = report.fiches[0]
    assert fiche.sections == {D: "Voir le site pour plus."} and fiche.metadata == {}
    assert report.removed["empty_link"] == 3


def test_all_empty_fiche_is_imported_with_a_located_warning():
    report = parse("Titre vide", "Titre vide", "Description", "Enjeux", "Ville", "Lyon", *FICHE_B)
    assert [f.title for f in report.fiches] == ["Titre vide", "Deuxième fiche"]
    assert report.fiches[0].sections == {} and report.fiches[0].metadata == {VILLE: "Lyon"}
    assert report.warnings == ["t.txt:1: fiche « Titre vide » : toutes les rubriques sont vides"]


def test_broken_fiche_is_reported_and_skipped():
    report = parse("Titre A", "Titre A", "Description", "A.", "Ville", "Paris", "Lien Web si existant",
                   "https://a.fr", "Description", "Texte orphelin.", *FICHE_B)
    assert [f.title for f in report.fiches] == ["Titre A", "Deuxième fiche"]
    assert report.fiches[0].metadata == {VILLE: "Paris", LIEN: "https://a.fr"}
    assert "Texte orphelin." not in json.dumps([f.to_json() for f in report.fiches])
    assert report.warnings[0].startswith("t.txt:9: rubrique « Description » répétée")
    assert report.warnings[1] == "t.txt:9: 2 ligne(s) hors fiche ignorée(s) (lignes 9-10)"


def test_sentence_like_single_line_after_metadata_is_a_title():
    report = parse("Titre A", "Titre A", "Description", "A.", "Ville", "Paris", "Accueil : une fiche.",
                   "Description", "B.")
    assert [f.title for f in report.fiches] == ["Titre A", "Accueil : une fiche."]


def test_text_before_first_fiche_is_reported():
    report = parse("Export du catalogue.", "", *FICHE_B)
    assert [f.title for f in report.fiches] == ["Deuxième fiche"]
    assert report.warnings == ["t.txt:1: 1 ligne(s) hors fiche ignorée(s) (lignes 1-1)"]


def test_id_collisions_and_duplicate_fiches():
    report = parse("Même titre", "Même titre", "Description", "Un.", "Ville", "A",
                   "Même titre", "Même titre", "Description", "Deux.", "Ville", "B",
                   "Même titre", "Même titre", "Description", "Un.", "Ville", "A")
    assert [f.id for f in report.fiches] == ["meme-titre", "meme-titre-2"]
    assert report.removed["repeated_fiche"] == 1
    assert "t.txt:7: id « meme-titre » déjà pris" in report.warnings[0]


def test_crlf_blank_lines_and_bom():
    text = "\ufeffTitre A\r\n\r\nTitre A\r\nDescription\r\n  Un texte.  \r\n\r\nVille\r\nNantes\r\n"
    report = parse_export(text, SPAM)
    assert report.fiches[0].sections == {D: "Un texte."} and report.fiches[0].metadata == {VILLE: "Nantes"}


def test_no_fiche_raises():
    with pytest.raises(ImportFailed, match="aucune fiche"):
        parse("Bonjour,", "ceci n'est pas un export.")


# -- files ------------------------------------------------------------------------------

def write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_bytes("\n".join(lines).encode(encoding))
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() if p.is_file() else "dir" for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_non_utf8_export_is_decoded_with_a_warning(tmp_path, encoding):
    title = "Élan d’été" if encoding == "cp1252" else "Élan à Néris"
    src = write(tmp_path / "x.txt", title, title, "Réalisations", "Déjà fait.", encoding=encoding)
    report = import_export(src, tmp_path / "out", DENYLIST)
    assert report.fiches[0].title == title and report.fiches[0].sections == {R: "Déjà fait."}
    assert "fichier non UTF-8, lu en cp1252" in report.warnings[0]  # cp1252 is a superset of latin-1


def test_utf16_export_with_bom_is_decoded(tmp_path):
    src = tmp_path / "x.txt"
    src.write_bytes("Élan\r\nÉlan\r\nEnjeux\r\nUn enjeu.".encode("utf-16"))
    report = import_export(src, tmp_path / "out", DENYLIST)
    assert report.fiches[0].title == "Élan" and "UTF-16" in report.warnings[0]


@pytest.mark.parametrize("content, message", [
    (b"", "est vide"),
    (b"\n  \n", "est vide"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "n'est pas un fichier texte"),
    (bytes(range(1, 9)) * 50, "n'est pas un fichier texte"),
    (b"Juste une phrase.\n", "aucune fiche"),
])
def test_bad_files_fail_with_one_line_and_write_nothing(tmp_path, content, message):
    src = tmp_path / "x.txt"
    src.write_bytes(content)
    with pytest.raises(ImportFailed, match=message) as info:
        import_export(src, tmp_path / "out", DENYLIST)
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


def test_missing_export(tmp_path):
    with pytest.raises(ImportFailed, match="introuvable"):
        import_export(tmp_path / "absent.txt", tmp_path / "out", DENYLIST)


def test_reimport_is_idempotent_and_second_export_adds_or_updates(tmp_path):
    out = tmp_path / "fiches"
    first = write(tmp_path / "a.txt", "Fiche A", "Fiche A", "Description", "A.",
                  "Fiche B", "Fiche B", "Description", "B v1.", "Ville", "Rennes")
    assert len(import_export(first, out, DENYLIST).written) == 2
    before = snapshot(out)
    assert import_export(first, out, DENYLIST).written == [] and snapshot(out) == before
    second = write(tmp_path / "b.txt", "Fiche B", "Fiche B", "Description", "B v2.", "Ville", "Rennes",
                   "Fiche C", "Fiche C", "Enjeux", "C.")
    import_export(second, out, DENYLIST)
    after = snapshot(out)
    assert sorted(after) == ["fiche-a.md", "fiche-b.md", "fiche-c.md"]
    assert after["fiche-a.md"] == before["fiche-a.md"] and b"B v2." in after["fiche-b.md"]


def test_write_is_all_or_nothing(tmp_path):
    out = tmp_path / "fiches"
    import_export(write(tmp_path / "a.txt", "Fiche A", "Fiche A", "Description", "A."), out, DENYLIST)
    (out / "fiche-z.md").mkdir()  # makes the second file impossible to write
    before = snapshot(out)
    src = write(tmp_path / "b.txt", "Fiche A", "Fiche A", "Description", "A v2.",
                "Fiche Z", "Fiche Z", "Description", "Z.")
    with pytest.raises(ImportFailed, match="rien n'a été modifié"):
        import_export(src, out, DENYLIST)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "fiches"]


# -- cleaning helpers -------------------------------------------------------------------

def test_denylist_file_and_spam_helpers(tmp_path):
    path = write(tmp_path / "deny.txt", "# commentaire", "", "  FloodCRM  # marque", "spam.example")
    assert load_denylist(path) == ["floodcrm", "spam.example"]
    assert load_denylist(tmp_path / "absent.txt") == []
    assert load_denylist(DENYLIST) == ["floodcrm", "floodcrm.email"]
    assert is_spam("Essayez FLOODcrm !", SPAM) and not is_spam("Agence Grrr", SPAM)
    masked = mask_spam("Voir https://FloodCRM.email/offre?x=1, ou floodcrm.email. Et https://ok.fr.", SPAM)
    assert masked == "Voir [lien retiré], ou [lien retiré]. Et https://ok.fr."


def test_clean_line_and_dedup_count_by_kind():
    removed: Counter[str] = Counter()
    assert clean_line("FloodCRM", SPAM, removed) is None
    assert clean_line("Contact : https://floodcrm.email/ ou 02 99", SPAM, removed) == "Contact : ou 02 99"
    assert clean_line("https://", SPAM, removed) is None
    assert clean_line("Un accteil typo.", SPAM, removed) == "Un accteil typo."
    assert dedup_lines(["a", "b", "a", "b", "c", "a"], removed) == ["a", "b", "c"]
    assert removed == {"spam_line": 1, "spam_url": 1, "empty_link": 1, "repeated_line": 3, "repeated_run": 1}
