"""Markdown fiche files: lossless round trip, hand-written files, malformed files located."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.catalogue.corpus import fiche_to_markdown, load_corpus, markdown_to_fiche, write_fiches
from rag.catalogue.fiche import METADATA_FIELDS, MULTI_VALUED, PARTENAIRES, VILLE, Fiche
from rag.catalogue.importer import parse_export
from rag.catalogue.places import load_places
from rag.catalogue.spam import load_denylist

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "corpus" / "raw" / "000_d9e11f9bb21b0018.txt"

AWKWARD = ["## Faux titre", "\\## déjà échappé", "##", "### sous-titre", "---", "...", "# dièse",
           "clé: valeur", "'guillemets'", '"doubles"', "  indenté", "fin  ", "- puce", "[lien](x)",
           "été 😀 œuvre", "\t tab", "? question", "| pipe", ">", "\\", "null", "yes", "2024-01-01"]
line = st.one_of(st.sampled_from(AWKWARD), st.text(st.characters(exclude_characters="\r\n",
                                                                 exclude_categories=("Cs",)), max_size=25))
edge = line.filter(lambda s: s.strip() != "")
text = st.one_of(edge, st.builds(lambda first, mid, last: "\n".join([first, *mid, last]),
                                 edge, st.lists(line, max_size=3), edge))
name = st.one_of(st.sampled_from(["Description", "Enjeux", "Réalisations", "Rubrique: inconnue"]),
                 line).map(str.strip).filter(bool)
value = st.one_of(text, edge)
metadata = st.dictionaries(st.one_of(st.sampled_from(METADATA_FIELDS), edge), value, max_size=5).map(
    lambda d: {k: [v] if k in MULTI_VALUED else v for k, v in d.items()})
fiches = st.builds(Fiche, id=st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True),
                   title=st.one_of(edge, text), sections=st.dictionaries(name, text, max_size=4),
                   metadata=metadata, commune=st.one_of(st.just(""), edge),
                   departement=st.one_of(st.just(""), edge), region=st.one_of(st.just(""), edge))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fiches)
def test_fiche_to_markdown_to_fiche_is_lossless(fiche):
    markdown = fiche_to_markdown(fiche)
    assert markdown_to_fiche(markdown, f"{fiche.id}.md") == fiche
    assert fiche_to_markdown(markdown_to_fiche(markdown)) == markdown


def test_heading_like_text_lines_are_escaped():
    fiche = Fiche(id="x", title="X", sections={"Description": "a\n## pas un titre\n\\## non plus"})
    markdown = fiche_to_markdown(fiche)
    assert "\n\\## pas un titre\n\\\\## non plus\n" in markdown
    assert markdown_to_fiche(markdown).sections == fiche.sections


def test_unrepresentable_text_is_refused():
    for sections in ({"Description": "\ntexte"}, {"Description": "texte\n  "}, {"": "t"}, {"D": "a\rb"}):
        with pytest.raises(ValueError):
            fiche_to_markdown(Fiche(id="x", title="X", sections=sections))
    with pytest.raises(ValueError):
        fiche_to_markdown(Fiche(id="Pas un slug", title="X"))


def test_seed_fiches_round_trip_and_bundled_files_are_up_to_date():
    report = parse_export(SEED.read_text(encoding="utf-8"), load_denylist(ROOT / "corpus" / "denylist.txt"),
                          places=load_places(ROOT / "corpus" / "places.csv"))
    for fiche in report.fiches:
        assert markdown_to_fiche(fiche_to_markdown(fiche)) == fiche
    bundled = load_corpus(ROOT / "corpus" / "fiches")
    assert bundled.errors == []
    assert sorted(bundled.fiches, key=lambda f: f.id) == sorted(report.fiches, key=lambda f: f.id)


HAND_WRITTEN = """---
title: Fiche écrite à la main
metadata:
  Ville: 2024
  Partenaires associés: Une seule agence
  Téléphone: yes
---

## Description

Écrite dans un éditeur.


## Enjeux
Sans ligne vide après le titre.
"""


def test_hand_written_file(tmp_path):
    fiche = markdown_to_fiche(HAND_WRITTEN.replace("\n", "\r\n"), tmp_path / "ma-fiche.md")
    assert fiche.id == "ma-fiche" and fiche.title == "Fiche écrite à la main"
    assert fiche.metadata == {VILLE: "2024", PARTENAIRES: ["Une seule agence"], "Téléphone": "yes"}
    assert fiche.sections == {"Description": "Écrite dans un éditeur.", "Enjeux": "Sans ligne vide après le titre."}


GOOD = "---\nid: bonne\ntitle: Bonne\n---\n\n## Description\n\nTexte.\n"


@pytest.mark.parametrize("content, line, reason", [
    ("Pas d'en-tête\n", 1, "doit commencer par '---'"),
    ("---\ntitle: X\n", 1, "non fermé"),
    ("---\nid: x\ntitle: [non fermé\nmetadata: {}\n---\n", 4, "en-tête YAML invalide"),
    ("---\nid: x\n---\n## D\n\nt\n", 1, "'title' manquant"),
    ("---\n- une\n- liste\n---\n", 2, "table"),
    ("---\ntitle: X\nid: Pas Un Slug\n---\n", 1, "id"),
    ("---\ntitle: X\nmetadata: [a, b]\n---\n", 1, "'metadata'"),
    ("---\ntitle: X\nmetadata:\n  Ville: {a: b}\n---\n", 1, "champ 'Ville'"),
    ("---\ntitle: X\n---\nTexte perdu\n## D\n\nt\n", 4, "hors section"),
    ("---\ntitle: X\n---\n## D\n\nt\n## D\n\nu\n", 7, "en double"),
    ("---\ntitle: X\n---\n##   \n\nt\n", 4, "section vide"),
])
def test_malformed_file_reported_with_path_and_line_others_load(tmp_path, content, line, reason):
    (tmp_path / "bonne.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "cassee.md").write_text(content, encoding="utf-8")
    load = load_corpus(tmp_path)
    assert [f.id for f in load.fiches] == ["bonne"]
    [error] = load.errors
    assert (Path(error.path).name, error.line) == ("cassee.md", line) and reason in error.reason
    assert str(error).startswith(f"{tmp_path / 'cassee.md'}:{line}: ")


def test_non_utf8_and_duplicate_id_files(tmp_path):
    (tmp_path / "a.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.md").write_text(GOOD, encoding="utf-8")
    (tmp_path / "c.md").write_bytes("---\ntitle: Été\n---\n".encode("latin-1"))
    (tmp_path / "notes.txt").write_text("ignoré", encoding="utf-8")
    load = load_corpus(tmp_path)
    assert [f.id for f in load.fiches] == ["bonne"]
    assert [(Path(e.path).name, e.line) for e in load.errors] == [("b.md", 1), ("c.md", 1)]
    assert "déjà utilisé par a.md" in load.errors[0].reason and "UTF-8" in load.errors[1].reason


def test_missing_corpus_dir_is_an_error_not_a_crash(tmp_path):
    load = load_corpus(tmp_path / "absent")
    assert load.fiches == [] and "introuvable" in load.errors[0].reason


def test_write_fiches_keeps_other_files_and_is_all_or_nothing(tmp_path):
    out = tmp_path / "fiches"
    a, b = Fiche(id="a", title="A"), Fiche(id="b", title="B", sections={"Enjeux": "E."})
    assert [p.name for p in write_fiches([a], out)] == ["a.md"]
    (out / "main.md").write_text(GOOD, encoding="utf-8")
    write_fiches([b], out)
    assert sorted(p.name for p in out.iterdir()) == ["a.md", "b.md", "main.md"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ValueError):  # the second fiche cannot be written: nothing is
        write_fiches([Fiche(id="a", title="A2"), Fiche(id="c", title="C", sections={"D": ""})], out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert write_fiches([a, b], out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fiches"]


@pytest.mark.parametrize("next_step", ["load", "import"])
def test_an_import_killed_between_its_renames_leaves_the_catalogue_usable(tmp_path, caplog, next_step):
    """write_fiches swaps folders with two renames; killed between them, the catalogue is
    only in ``.fiches.old-*`` (as the first rename left it). The next load or import puts
    it back, with a warning, and nothing is lost."""
    out = tmp_path / "fiches"
    write_fiches([Fiche(id="a", title="A"), Fiche(id="b", title="B")], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    out.rename(tmp_path / ".fiches.old-k1ll3d")  # the state after the first rename
    (tmp_path / ".fiches.new-k1ll3d").mkdir()  # the stage it was about to rename
    if next_step == "load":
        assert sorted(f.id for f in load_corpus(out).fiches) == ["a", "b"]
    else:
        write_fiches([Fiche(id="c", title="C")], out)
        before["c.md"] = (out / "c.md").read_bytes()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert "restauré depuis .fiches.old-k1ll3d" in caplog.text and not (tmp_path / ".fiches.old-k1ll3d").exists()
    assert "le dossier .fiches.new-k1ll3d peut être supprimé" in caplog.text


def test_a_lone_backup_is_not_restored(tmp_path, caplog):
    """A ``.fiches.old-*`` without its ``.fiches.new-*`` stage is not the state between
    write_fiches' renames (a kill after the second one leaves it): the catalogue deleted
    since, on purpose, came back at the next load."""
    out = tmp_path / "fiches"
    write_fiches([Fiche(id="a", title="A")], out)
    out.rename(tmp_path / ".fiches.old-l0ne")
    load = load_corpus(out)
    assert load.fiches == [] and "introuvable" in load.errors[0].reason
    assert f"sauvegarde {tmp_path / '.fiches.old-l0ne'} laissée telle quelle" in caplog.text
    write_fiches([Fiche(id="b", title="B")], out)
    assert sorted(p.name for p in out.iterdir()) == ["b.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".fiches.old-l0ne", "fiches"]


@pytest.mark.parametrize(("killed", "stale"), [("aaaa", "zzzz"), ("zzzz", "aaaa")])
def test_of_two_backups_the_one_beside_its_stage_is_restored(tmp_path, caplog, killed, stale):
    """The newest mtime chose the backup, but a stage is a copy carrying its source's
    mtime: a stale backup could be as new or newer, and came back instead."""
    out = tmp_path / "fiches"
    write_fiches([Fiche(id="stale", title="Ancienne")], tmp_path / "old")
    write_fiches([Fiche(id="last", title="Dernière")], out)
    out.rename(tmp_path / f".fiches.old-{killed}")
    (tmp_path / f".fiches.new-{killed}").mkdir()
    (tmp_path / "old").rename(tmp_path / f".fiches.old-{stale}")  # renamed last: the newest mtime
    assert [f.id for f in load_corpus(out).fiches] == ["last"]
    assert (tmp_path / f".fiches.old-{stale}").is_dir() and "laissée telle quelle" in caplog.text


def test_a_backup_that_cannot_be_restored_is_a_warning_not_a_traceback(tmp_path, caplog):
    """The rename back was unguarded: an English traceback on a read-only disk or a race.
    Here a dangling link stands where the catalogue was (renaming a folder onto it fails)."""
    out = tmp_path / "fiches"
    write_fiches([Fiche(id="a", title="A")], out)
    out.rename(tmp_path / ".fiches.old-k1ll3d")
    (tmp_path / ".fiches.new-k1ll3d").mkdir()
    out.symlink_to(tmp_path / "ailleurs")
    load = load_corpus(out)
    assert load.fiches == [] and "introuvable" in load.errors[0].reason
    assert "n'a pas pu être restauré depuis" in caplog.text and "renommez-le en fiches" in caplog.text
    assert (tmp_path / ".fiches.old-k1ll3d" / "a.md").is_file()
