"""The place table and the place of each fiche: read from ``corpus/places.csv``, found
from a commune, an address, a département or a région, kept in the front matter; an
unknown place warns and still imports."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.catalogue.corpus import fiche_to_markdown, load_corpus, markdown_to_fiche
from rag.catalogue.fiche import VILLE, Fiche
from rag.catalogue.importer import import_export
from rag.catalogue.places import Place, load_places, place_fiche
from rag.errors import CorpusError
from tests.conftest import BUNDLED_FICHES, ROOT

PLACES = ROOT / "corpus" / "places.csv"
DENYLIST = ROOT / "corpus" / "denylist.txt"
HEADER = "niveau,nom,code,departement,region,alias\n"


@pytest.fixture(scope="module")
def table():
    return load_places(PLACES)


def test_bundled_table_has_every_departement_and_region(table) -> None:
    assert len(table.codes) == 101 and len({p.region for p in table.codes.values()}) == 18
    assert table.codes["2a"] == Place(departement="Corse-du-Sud (2A)", region="Corse")
    assert table.lookup("paris") == Place("Paris", "Paris (75)", "Île-de-France")  # the commune first


@pytest.mark.parametrize(("ville", "place"), [
    ("Brest", Place("Brest", "Finistère (29)", "Bretagne")),
    ("Saint Méen le Grand", Place("Saint-Méen-le-Grand", "Ille-et-Vilaine (35)", "Bretagne")),
    ("106 rue Pierre Corneille, Lyon", Place("Lyon", "Rhône (69)", "Auvergne-Rhône-Alpes")),
    ("2 place de la Mairie, 69003 LYON", Place("Lyon", "Rhône (69)", "Auvergne-Rhône-Alpes")),
    ("1 rue du Port, 29470 Plougastel", Place("", "Finistère (29)", "Bretagne")),  # the postal code
    ("vendée", Place("", "Vendée (85)", "Pays de la Loire")),
    ("Bretagne", Place("", "", "Bretagne")),
    ("SAINT-DENIS", Place("Saint-Denis", "Seine-Saint-Denis (93)", "Île-de-France")),
])
def test_locate_a_ville_value(table, ville: str, place: Place) -> None:
    assert table.locate(ville) == place


def test_unknown_place_keeps_the_written_commune_and_warns(table) -> None:
    fiche = Fiche(id="f", title="Fiche F", metadata={VILLE: "3 rue Haute, Trifouilly-les-Oies"})
    placed, warning = place_fiche(fiche, table)
    assert (placed.commune, placed.departement, placed.region) == ("Trifouilly-les-Oies", "", "")
    assert "Trifouilly-les-Oies" in warning and "absent" in warning and "Fiche F" in warning
    assert place_fiche(Fiche(id="g", title="G"), table) == (Fiche(id="g", title="G"), None)


def test_import_places_each_fiche_warns_on_unknown_and_is_idempotent(tmp_path: Path) -> None:
    export = tmp_path / "export.txt"
    export.write_text("\n".join(["Fiche A", "Fiche A", "Description", "Texte A.", "Ville", "Quimper",
                                 "Fiche B", "Fiche B", "Description", "Texte B.", "Ville", "Trifouilly"]),
                      encoding="utf-8")
    out = tmp_path / "fiches"
    report = import_export(export, out, DENYLIST, PLACES)
    assert [w for w in report.warnings if "Trifouilly" in w] == report.warnings and len(report.warnings) == 1
    a, b = load_corpus(out).fiches
    assert (a.commune, a.departement, a.region) == ("Quimper", "Finistère (29)", "Bretagne")
    assert (b.commune, b.departement, b.region) == ("Trifouilly", "", "")
    text = (out / "fiche-a.md").read_text(encoding="utf-8")
    assert "commune: Quimper\ndepartement: Finistère (29)\nregion: Bretagne\n" in text
    assert import_export(export, out, DENYLIST, PLACES).written == []


def test_bundled_fiches_carry_their_places() -> None:
    fiches = {f.id: f for f in load_corpus(BUNDLED_FICHES).fiches}
    assert {f.region for f in fiches.values()} == {"Bretagne", "Pays de la Loire", "Île-de-France",
                                                   "Auvergne-Rhône-Alpes", "Occitanie"}
    assert fiches["l-accueil-dans-la-relation-a-l-usager-a-la-region-bretagne"].departement == ""
    assert fiches["innov-accueil-une-demarche-d-amelioration-de-l-accueil-en-prefecture"].commune == "Lyon"
    assert fiches["d-une-msap-a-une-maison-france-service-en-vendee"].departement == "Vendée (85)"


def test_place_round_trips_through_the_front_matter() -> None:
    fiche = Fiche(id="f", title="F", commune="Saint-Méen-le-Grand", departement="Ille-et-Vilaine (35)",
                  region="Bretagne", sections={"Description": "Texte."})
    assert markdown_to_fiche(fiche_to_markdown(fiche)) == fiche
    with pytest.raises(CorpusError, match="champ 'region' : un seul texte attendu"):
        markdown_to_fiche("---\nid: f\ntitle: F\nregion:\n- Bretagne\n---\n")


@pytest.mark.parametrize(("rows", "line", "reason"), [
    ("region,Bretagne,53,,,\ndepartement,Finistère,29,,Bretange,\n", 3, "région « Bretange » absente"),
    ("commune,Brest,29019,99,,\n", 2, "département « 99 » absent"),
    ("ville,Brest,29019,29,,\n", 2, "niveau « ville » inconnu"),
    ("region,Bretagne,53\n", 2, "3 champs au lieu de 6"),
])
def test_malformed_table_is_reported_with_its_line(tmp_path: Path, rows: str, line: int, reason: str) -> None:
    path = tmp_path / "places.csv"
    path.write_text(f"# commentaire\n{HEADER}{rows}".replace(HEADER, HEADER, 1), encoding="utf-8")
    with pytest.raises(CorpusError, match=reason) as caught:
        load_places(path)
    assert caught.value.line == line + 1  # the comment line counts


def test_wrong_header_and_missing_table(tmp_path: Path) -> None:
    path = tmp_path / "places.csv"
    path.write_text("nom,code\nBrest,29\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="en-tête attendu"):
        load_places(path)
    assert load_places(tmp_path / "absent.csv").lookup("Brest") is None
