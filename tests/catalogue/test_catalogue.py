"""The Catalogue mapping's helpers: the Catalogue page's search (:func:`fiche_matches`)."""

from __future__ import annotations

import pytest

from rag.catalogue.catalogue import fiche_matches
from rag.catalogue.fiche import Fiche

FICHE = Fiche(id="x", title="Accueil en Mairie de Brest", sections={"Réalisations": "Borne testée en 2029."},
              metadata={"Ville": "Brest", "Partenaires associés": "Agence DETEA"},
              commune="Brest", departement="Finistère (29)", region="Bretagne")


@pytest.mark.parametrize(("query", "found"), [
    ("mairie brest", True), ("MAIRIE BRÉST", True), ("borne testee", True), ("detea", True),
    ("29", True), ("finistere", True), ("Bretagne", True), ("202", False), ("9", False),
    ("2029", True), ("nantes", False), ("mairie nantes", False), ("", True),
    # punctuation typed in the query separates words, it is not part of them
    ("mairie, brest", True), ("Brest.", True), ("29,", True), ("(29)", True), ("« Bretagne » !", True),
    ("mairie, nantes", False), ("2029.", True), ("9,", False),
])
def test_every_word_in_text_metadata_or_place_numbers_whole(query: str, found: bool) -> None:
    assert fiche_matches(FICHE, query) is found
