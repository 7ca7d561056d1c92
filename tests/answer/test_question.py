"""The question before retrieval: follow-up detection, the extractive rewrite of a
follow-up, and which LLM rewrites are echoes of the prompt (the rest of the LLM rewrite
is tested through the pipeline)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pytest

from rag.answer.prompting import load_prompts
from rag.answer.question import (
    carry_subject,
    extractive_standalone,
    looks_like_followup,
    normalise_history,
    standalone_question,
)
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.corpus import load_corpus
from rag.config import ROOT
from rag.errors import InputError
from rag.search.filters import infer_filters
from tests.conftest import BUNDLED_FICHES
from tests.support.fakes import FakeBackend

FICHES = Catalogue(load_corpus(BUNDLED_FICHES).fiches)
PLACES = partial(infer_filters, catalogue=FICHES)


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
    rewritten = carry_subject("et à Brest ?", previous, PLACES)
    assert rewritten.startswith("co-conception mairie") and "Nantes" not in rewritten
    assert rewritten.endswith("et à Brest ?")
    assert carry_subject("initiatives à Quimper", previous, PLACES) == "initiatives à Quimper"


def test_conversation_is_replayed() -> None:
    turns = [("quelles initiatives de design de service ?", "…"), ("et à Brest ?", "…")]
    assert "design service" in extractive_standalone("comment ont-ils fait ?", turns, PLACES)


def test_the_previous_place_is_read_only_when_the_follow_up_names_a_new_one() -> None:
    asked: list[str] = []

    def place_of(text: str) -> Mapping[str, str]:
        asked.append(text)
        return PLACES(text)

    previous = "co-conception de la mairie à Nantes"
    assert carry_subject("comment ont-ils fait ?", previous, place_of).endswith("Nantes — comment ont-ils fait ?")
    assert asked == ["comment ont-ils fait ?"]
    assert "Nantes" not in carry_subject("et à Brest ?", previous, place_of)
    assert asked[1:] == ["et à Brest ?", previous]
    carry_subject("initiatives à Quimper", previous, place_of)  # not a follow-up: no place read
    assert len(asked) == 3


HISTORY = [("quelles initiatives concernent les Maisons France Services ?", "…")]


def rewrite_of(reply: str) -> str:
    """The standalone question of « et à Nantes ? » when the model replies ``reply``."""
    FakeBackend.reset()
    FakeBackend.queue(reply)
    return standalone_question("et à Nantes ?", HISTORY, FakeBackend(), load_prompts(ROOT / "prompts"), PLACES)


@pytest.mark.parametrize("echo", [
    "Voici une conversation à propos d'un catalogue d'initiatives d'accueil du service public",  # no « : »
    "Voici une conversation à propos d'un catalogue…",
    "Nouvelle question de l'utilisateur : et à Nantes ?",
    "NOUVELLE QUESTION DE L’UTILISATEUR — et à Nantes ?",
    "Réécris cette nouvelle question pour qu'elle se comprenne seule",
    "Réponds uniquement par la question réécrite, sur une seule ligne.",
])
def test_a_rewrite_echoing_a_prompt_line_is_refused(echo: str) -> None:
    """A small base model continues the rewrite prompt: a reply starting with a line's
    fixed text (or cut inside it) is no question; the extractive rule applies."""
    assert rewrite_of(echo) == extractive_standalone("et à Nantes ?", HISTORY, PLACES)


@pytest.mark.parametrize("rewrite", [
    "Voici les Maisons France Services de Nantes : comment accueillent-elles ?",
    "Nouvelle Maison France Services à Nantes : qu'a-t-elle changé à l'accueil ?",
    "Si Nantes a une Maison France Services, comment accueille-t-elle ?",
    "Remplace-t-on les guichets des Maisons France Services à Nantes ?",
])
def test_a_rewrite_merely_starting_with_a_prompt_word_is_kept(rewrite: str) -> None:
    assert rewrite_of(rewrite) == rewrite
