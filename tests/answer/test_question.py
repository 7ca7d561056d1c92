"""The question before retrieval: cleaning, follow-up detection and rewrite, and the
names the catalogue lacks (abstention)."""

from __future__ import annotations

import pytest

from rag.answer.abstention import SUPPORTED, by_cosine, lexical_support, proper_names, residual_words, unknown_names
from rag.answer.question import carry_subject, extractive_standalone, looks_like_followup, normalise_history
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.corpus import load_corpus
from rag.config import ROOT
from rag.errors import InputError
from rag.index.lexical import LexicalIndex
from rag.text import clean_question
from rag.types import Chunk

FICHES = Catalogue(load_corpus(ROOT / "corpus" / "fiches").fiches)


def test_clean_question() -> None:
    assert clean_question("  a\x00b\x07 c\n\td  ", 100) == ("a b c d", [])
    text, notices = clean_question("mot " * 100, 50)
    assert len(text) <= 50 and not text.endswith(" ") and "50 premiers caractères" in notices[0]
    for bad in ["", " \n", "\x00", None]:
        with pytest.raises(InputError):
            clean_question(bad, 100)


def test_history_pairs_or_dicts() -> None:
    assert normalise_history([("q1", "a1"), {"question": "q2", "answer": None}, ("", "x")]) == [
        ("q1", "a1"), ("q2", "")]
    with pytest.raises(InputError, match="historique invalide"):
        normalise_history(["q1"])


@pytest.mark.parametrize(("question", "followup"), [
    ("et à Nantes ?", True), ("comment ont-ils fait ?", True), ("Et pour ce projet, quel coût ?", True),
    ("à Brest ?", True), ("initiatives à Quimper", False),
    ("comment préserver l'anonymat dans la salle d'attente ?", False),
])
def test_followup_detection(question: str, followup: bool) -> None:
    assert looks_like_followup(question) is followup


def test_carry_subject_replaces_the_place() -> None:
    previous = "co-conception de la mairie à Nantes"
    rewritten = carry_subject("et à Brest ?", previous, FICHES)
    assert rewritten.startswith("co-conception mairie") and "Nantes" not in rewritten
    assert rewritten.endswith("et à Brest ?")
    assert carry_subject("initiatives à Quimper", previous, FICHES) == "initiatives à Quimper"


def test_conversation_is_replayed() -> None:
    turns = [("quelles initiatives de design de service ?", "…"), ("et à Brest ?", "…")]
    assert "design service" in extractive_standalone("comment ont-ils fait ?", turns, FICHES)


@pytest.mark.parametrize(("question", "unknown"), [
    ("accueil en mairie de Marseille", ["Marseille"]),
    ("projets menés par la CAF du Rhône", ["CAF"]),
    ("question : Strasbourg ?", ["Strasbourg"]),
    ("projets de l'Agence Grrr à Quimper", []),
    ("COMMENT PRÉSERVER L'ANONYMAT ?", []),  # typed in capitals: no telling names
])
def test_names_the_catalogue_lacks(question: str, unknown: list[str]) -> None:
    assert unknown_names(question, FICHES) == unknown


def test_residual_words_of_a_names_only_question() -> None:
    assert proper_names("Comment fait Brest ? Et Nantes") == ["Brest", "Nantes"]
    assert residual_words("initiatives à Quimper") == []
    assert residual_words("qui contacter pour l'accueil multicanal de la Région Bretagne ?") == [
        "contacter", "accueil", "multicanal"]


def test_lexical_support_weights_rare_words_and_overrules_a_weak_cosine() -> None:
    texts = ["Vis ma vie : les agents refont le trajet de l'usager.", "L'accueil des usagers en mairie.",
             "L'accueil au guichet unique."]
    chunks = [Chunk(id=str(i), fiche_id=str(i), title="T", section="Description", text=t) for i, t in enumerate(texts)]
    lexical = LexicalIndex.build(chunks, "test")
    found = lexical_support("Vis ma vie des agents", chunks[:1], lexical)
    unknown_topic = lexical_support("accueil des touristes en office", chunks, lexical)  # only "accueil" is known
    assert found == 1.0 and 0.0 < unknown_topic < 0.5
    assert lexical_support("Quelles initiatives à Marseille ?", chunks, lexical) == 0.0  # no content word
    assert by_cosine(0.10, 0.20).abstain and by_cosine(0.10, 0.20, unknown_topic).abstain
    assert not by_cosine(0.10, 0.20, found).abstain and found >= SUPPORTED
    assert not by_cosine(0.30, 0.20).abstain and by_cosine(None, 0.20).abstain
