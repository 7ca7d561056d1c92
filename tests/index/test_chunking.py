"""rag.index.chunking: one chunk per section, token-bounded splitting, metadata chunk."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.catalogue.fiche import (
    ACTEUR,
    AUTEUR,
    ECHELLE,
    LIEN,
    MOT_CLEF,
    PARTENAIRES,
    TYPE_ACTEUR,
    VILLE,
    Fiche,
)
from rag.index.chunking import METADATA_SECTION, chunk_corpus, chunk_fiche, metadata_text
from rag.tokens import count_tokens


def nantes_sud(**sections: str) -> Fiche:
    """The seed's "Co-conception de la Mairie de Nantes Sud", built by hand."""
    return Fiche(
        id="co-conception-de-la-mairie-de-nantes-sud",
        title="Co-conception de la Mairie de Nantes Sud",
        commune="Nantes", departement="Loire-Atlantique (44)", region="Pays de la Loire",
        sections=sections or {
            "Description": "Un travail a été mené avec des habitants, des élus et des agents.",
            "Enjeux": "",
            "Méthodologie mise en place": "2 ateliers de co-conception mêlant habitants, agents et élus.",
        },
        metadata={
            ACTEUR: "Agence Grrr", AUTEUR: "Agence Grrr", TYPE_ACTEUR: ["Commune"],
            ECHELLE: "Quartier", VILLE: "Nantes", MOT_CLEF: [],
            LIEN: "https://dialoguecitoyen.metropole.nantes.fr/project/mairie-de-quartier-nantes-sud",
            PARTENAIRES: ["Agence Grrr", "Mairie de Nantes Sud", "Mairie de Nantes Sud"],
        },
    )


def words(text: str) -> list[str]:
    return text.split()


def test_one_chunk_per_non_empty_section_then_the_metadata_chunk() -> None:
    chunks = chunk_fiche(nantes_sud(), 350)
    assert [c.id for c in chunks] == [
        "co-conception-de-la-mairie-de-nantes-sud::description::0",
        "co-conception-de-la-mairie-de-nantes-sud::methodologie-mise-en-place::0",
        "co-conception-de-la-mairie-de-nantes-sud::fiche::0",
    ]
    assert [c.section for c in chunks] == ["Description", "Méthodologie mise en place", METADATA_SECTION]
    assert chunks[0].text == "Un travail a été mené avec des habitants, des élus et des agents."
    assert chunks[0].indexed_text.startswith("Co-conception de la Mairie de Nantes Sud › Description\n")
    assert {c.fiche_id for c in chunks} == {"co-conception-de-la-mairie-de-nantes-sud"}


def test_chunk_metadata_is_flat_strings_with_joined_partners() -> None:
    chunk = chunk_fiche(nantes_sud(), 350)[0]
    assert chunk.metadata == {
        "ville": "Nantes", "echelle": "Quartier", "type_acteur": "Commune",
        "partenaires": "Agence Grrr | Mairie de Nantes Sud", "acteur": "Agence Grrr",
        "lien": "https://dialoguecitoyen.metropole.nantes.fr/project/mairie-de-quartier-nantes-sud",
        "commune": "Nantes", "departement": "Loire-Atlantique (44)", "region": "Pays de la Loire", "contact": "",
    }


def test_invalid_link_and_missing_fields_give_empty_strings() -> None:
    fiche = Fiche(id="f", title="T", sections={"Description": "Texte."}, metadata={LIEN: "www.exemple.fr"})
    (chunk,) = chunk_fiche(fiche, 350)  # no metadata field to list: no metadata chunk
    assert chunk.metadata == {"ville": "", "echelle": "", "type_acteur": "", "partenaires": "",
                              "acteur": "", "lien": "", "commune": "", "departement": "", "region": "",
                              "contact": ""}


def test_metadata_chunk_lists_fields_in_french() -> None:
    text = metadata_text(nantes_sud())
    assert text.splitlines() == [
        "Acteur : Agence Grrr.",
        "Auteur de la fiche : Agence Grrr.",
        "Partenaires : Agence Grrr, Mairie de Nantes Sud.",
        "Ville : Nantes.",
        "Échelle d'action : Quartier.",
        "Type d'acteur : Commune.",
    ]
    chunk = chunk_fiche(nantes_sud(), 350)[-1]
    assert chunk.text == text and "Agence Grrr" in chunk.indexed_text


def test_chunk_ids_and_hashes_are_stable_and_unique() -> None:
    first, second = chunk_fiche(nantes_sud(), 350), chunk_fiche(nantes_sud(), 350)
    assert [(c.id, c.content_hash) for c in first] == [(c.id, c.content_hash) for c in second]
    assert len({c.id for c in first}) == len(first)


LIST_SECTION = "\n".join(
    f"- Élément {i} : les agents d'accueil ont testé une borne mobile pour aller vers les usagers."
    for i in range(40)
)


def test_long_list_is_split_between_items_within_budget() -> None:
    chunks = chunk_fiche(nantes_sud(Réalisations=LIST_SECTION), 120)
    parts = [c for c in chunks if c.section == "Réalisations"]
    assert len(parts) > 3
    assert [c.id.rsplit("::", 1)[1] for c in parts] == [str(i) for i in range(len(parts))]
    for chunk in parts:
        assert count_tokens(chunk.indexed_text) <= 120
        assert all(line.startswith("- Élément ") and line.endswith("usagers.") for line in chunk.text.splitlines())
    assert "\n".join(c.text for c in parts) == LIST_SECTION


def test_long_paragraph_is_split_at_sentence_ends() -> None:
    paragraph = " ".join(f"La phrase {i} décrit l'accueil en mairie pendant les travaux." for i in range(60))
    parts = [c for c in chunk_fiche(nantes_sud(Enjeux=paragraph), 80) if c.section == "Enjeux"]
    assert len(parts) > 3
    for chunk in parts:
        assert count_tokens(chunk.indexed_text) <= 80
        assert chunk.text.startswith("La phrase ") and chunk.text.endswith("travaux.")
    assert " ".join(c.text for c in parts) == paragraph


def test_giant_sentence_is_split_between_words() -> None:
    sentence = " ".join(f"mot{i}" for i in range(800))
    parts = [c for c in chunk_fiche(nantes_sud(Enjeux=sentence), 64) if c.section == "Enjeux"]
    assert len(parts) > 5
    assert all(count_tokens(c.indexed_text) <= 64 for c in parts)
    assert [w for c in parts for w in words(c.text)] == words(sentence)  # no word was cut


def test_giant_word_is_cut_by_tokens_as_last_resort() -> None:
    word = "https://exemple.fr/" + "ab€😀" * 400
    chunks = chunk_fiche(nantes_sud(Enjeux=f"Voir {word} pour la suite."), 64)
    parts = [c for c in chunks if c.section == "Enjeux"]
    assert all(count_tokens(c.indexed_text) <= 64 for c in parts)
    assert "".join(c.text for c in parts).replace(" ", "") == f"Voir{word}pourlasuite."


def test_long_title_still_leaves_room_for_text() -> None:
    fiche = Fiche(id="f", title="Titre " * 80, sections={"Description": "Un texte court qui doit rester entier."})
    (chunk,) = chunk_fiche(fiche, 64)
    assert chunk.text == "Un texte court qui doit rester entier."


def test_chunk_corpus_keeps_fiche_order() -> None:
    other = Fiche(id="autre", title="Autre", sections={"Description": "Rien."})
    chunks = chunk_corpus([other, nantes_sud()], 350)
    assert [c.fiche_id for c in chunks] == ["autre"] + ["co-conception-de-la-mairie-de-nantes-sud"] * 3


section_text = st.lists(
    st.one_of(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=40),
        st.sampled_from([". ", "! ", "\n", "\n- ", "  ", "« Oui. » ", "Été. ", "x" * 90]),
    ),
    max_size=60,
).map("".join)


@settings(max_examples=80, deadline=None)
@given(section_text, st.integers(min_value=32, max_value=120))
def test_any_section_fits_the_budget_and_keeps_every_word(text: str, max_tokens: int) -> None:
    fiche = Fiche(id="f", title="Titre de la fiche", sections={"Description": text})
    chunks = chunk_fiche(fiche, max_tokens)
    assert all(count_tokens(c.indexed_text) <= max_tokens for c in chunks)
    assert all(c.text and c.text == c.text.strip() for c in chunks)
    joined = "".join(c.text for c in chunks)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", text)
