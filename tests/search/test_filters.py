"""Filters at every level of place: inferred from a question (commune, département by
name or number, région), matched on fiches and chunks, offered as chips."""

from __future__ import annotations

import pytest

from rag.catalogue.catalogue import Catalogue
from rag.catalogue.corpus import load_corpus
from rag.catalogue.places import load_places
from rag.errors import InputError
from rag.search.filters import (
    FILTER_FIELDS,
    check_filters,
    facet_values,
    fiche_matches,
    filter_label,
    infer_filters,
    place_depth,
    value_matches,
)
from tests.conftest import BUNDLED_FICHES, ROOT
from tests.support.index_helpers import import_seed

BREST, QUIMPER = "accueil-en-mairie-de-brest", "l-accueil-en-cdas-departement-du-finistere"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(load_corpus(BUNDLED_FICHES).fiches, load_places(ROOT / "corpus" / "places.csv"))


@pytest.mark.parametrize(("question", "filters"), [
    ("initiatives à Brest", {"commune": "Brest"}),
    ("que s'est-il passé à saint-meen-le-grand ?", {"commune": "Saint-Méen-le-Grand"}),
    ("quelles initiatives se trouvent dans le Finistère ?", {"departement": "Finistère (29)"}),
    ("initiatives dans le 29", {"departement": "Finistère (29)"}),
    ("projets du département du 35", {"departement": "Ille-et-Vilaine (35)"}),
    ("tout ce qui a été fait en bretagne sur l'accueil", {"region": "Bretagne"}),
    ("initiatives en Bretagne ou en Pays de la Loire", {"region": "Bretagne | Pays de la Loire"}),
    ("projets en Seine-Saint-Denis", {"departement": "Seine-Saint-Denis (93)"}),  # not the commune inside
    ("à Brest, dans le Finistère", {"commune": "Brest", "departement": "Finistère (29)"}),
    ("initiatives dans le Morbihan", {"departement": "Morbihan (56)"}),  # in the table, no fiche there
    ("initiatives à Toulouse", {"commune": "Toulouse"}),
])
def test_places_inferred_at_every_level(catalogue: Catalogue, question: str, filters: dict[str, str]) -> None:
    assert infer_filters(question, catalogue) == filters


@pytest.mark.parametrize("question", [
    "En somme, quelles initiatives ?",  # a département of the table no fiche has: only when capitalised
    "projets menés par la CAF du Rhône",  # no place word before it
    "passer aux 35 heures en 2019",  # numbers that are not "dans le 35"
    "à Brest et en Occitanie",  # no fiche is in both: the user compares
    "la Nantaise du quartier",
])
def test_no_place_inferred(catalogue: Catalogue, question: str) -> None:
    assert infer_filters(question, catalogue) == {}


def test_filter_values_match_names_numbers_and_alternatives(catalogue: Catalogue) -> None:
    assert value_matches("29", "Finistère (29)") and value_matches("finistere", "Finistère (29)")
    assert value_matches("Nantes | Brest", "Brest") and not value_matches("Nantes | Lyon", "Brest")
    assert not value_matches("2", "Finistère (29)")
    in_29 = {f.id for f in catalogue.values() if fiche_matches(f, {"departement": "29"})}
    assert in_29 == {BREST, QUIMPER}
    assert sum(fiche_matches(f, {"region": "Bretagne"}) for f in catalogue.values()) == 4


def test_check_filters_accepts_the_old_ville_key(catalogue: Catalogue) -> None:
    assert check_filters({"ville": " Brest "}) == {"commune": "Brest"}
    with pytest.raises(InputError, match="filtre inconnu « pays » ; filtres valides : commune, departement, region"):
        check_filters({"pays": "France"})
    with pytest.raises(InputError, match="le filtre « ville » n'a pas de valeur"):
        check_filters({"ville": " "})


def test_chips_have_clean_labels_and_place_values(catalogue: Catalogue) -> None:
    assert [field.label for field in FILTER_FIELDS.values()][:3] == ["Commune", "Département", "Région"]
    facets = facet_values(catalogue)
    assert "Bretagne" in facets["region"] and "Bretagne" not in facets["commune"]
    assert "Finistère (29)" in facets["departement"] and "106 rue Pierre Corneille, Lyon" not in facets["commune"]


def test_filter_label_names_a_filter_as_the_chips_and_the_export_do() -> None:
    assert filter_label("echelle", "Locale") == "Échelle d'action : Locale"
    assert filter_label("ville", "Brest") == "Commune : Brest"  # the old key, as stored by older turns
    assert filter_label("pays", "France") == "pays : France"  # unknown: named by itself, nothing lost


def test_a_place_filter_widens_the_search_to_every_initiative_there(catalogue: Catalogue) -> None:
    assert place_depth({"region": "Bretagne"}, catalogue, 6, 2) == 8
    assert place_depth({"region": "Bretagne | Pays de la Loire"}, catalogue, 6, 2) == 14
    assert place_depth({"commune": "Brest"}, catalogue, 6, 2) == 6
    assert place_depth({"echelle": "Commune"}, catalogue, 6, 2) == 6  # not a place: unchanged


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    """The seed export freshly imported (the tests below moved from test_retrieval.py)."""
    return Catalogue(import_seed(tmp_path_factory.mktemp("seed-f") / "fiches"))


def test_infer_filters_and_facets(seed):
    assert infer_filters("Quelles initiatives à Nantes ?", seed) == {"commune": "Nantes"}
    assert infer_filters("des projets en bretagne", seed) == {"region": "Bretagne"}
    assert infer_filters("initiatives in Lyon?", seed) == {"commune": "Lyon"}
    assert infer_filters("Accueil à Saint-Méen-le-Grand", seed) == {"commune": "Saint-Méen-le-Grand"}
    assert infer_filters("initiatives dans le 29", seed) == {"departement": "Finistère (29)"}
    assert infer_filters("comparer à Nantes et à Brest", seed) == {"commune": "Nantes | Brest"}
    assert infer_filters("à Nantes, en Bretagne", seed) == {}  # two places no fiche is in at once
    assert infer_filters("la Nantaise du quartier", seed) == {}
    facets = facet_values(seed)
    assert set(facets) == set(FILTER_FIELDS)
    assert "Brest" in facets["commune"] and "Agence DETEA" in facets["partenaire"]
    assert facets["region"] == ["Auvergne-Rhône-Alpes", "Bretagne", "Île-de-France", "Occitanie", "Pays de la Loire"]
    assert facets["commune"] == sorted(facets["commune"], key=lambda v: v.casefold())


def test_value_matching_is_accent_case_and_word_aware():
    assert value_matches("vendee", "vendée") and value_matches("DETEA", "Agence Grrr | Agence DETEA")
    assert value_matches("lyon", "106 rue Pierre Corneille, Lyon")
    assert not value_matches("Nant", "Nantes") and not value_matches("Grrr", "Agence DETEA")
