"""Abstention's sentence-level signals on real parts: the bundled catalogue and the real
multilingual embedder (``use``), since mapping English words onto the catalogue's French
ones is the embedder's job."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.abstention import (
    NO_WORDS,
    SUPPORTED,
    Signals,
    by_cosine,
    by_signals,
    key_words,
    lexical_support,
    profile,
    proper_names,
    residual_words,
    signals,
    unknown_names,
    unknown_words,
)
from rag.answer.pipeline import ask
from rag.catalogue.catalogue import Catalogue
from rag.catalogue.corpus import load_corpus
from rag.config import load_settings
from rag.index.lexical import LexicalIndex
from rag.services import Services
from rag.types import Chunk
from tests.conftest import BUNDLED_FICHES

FICHES = Catalogue(load_corpus(BUNDLED_FICHES).fiches)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    data: Path = tmp_path_factory.mktemp("abstention-data")
    services = Services(load_settings(data_dir=data, corpus_dir=BUNDLED_FICHES, embedder="use"))
    services.ensure_index()
    return services


def test_key_words_leave_out_function_words_generic_words_and_names() -> None:
    assert key_words("Quelles initiatives de la CAF ont réduit l'attente ?") == ["reduit", "attente"]
    assert key_words("How do hospitals reduce waiting times?") == ["hospitals", "reduce", "waiting", "times"]


def test_english_words_map_onto_the_catalogue_french_ones(services: Services) -> None:
    known = profile(services.fiches, services.embedder)
    assert profile(services.fiches, services.embedder) is known  # built once per catalogue
    assert unknown_words(["emergency", "furniture", "attente"], known, services.embedder) == {}
    assert list(unknown_words(["cantine", "creche", "mobilier"], known, services.embedder)) == ["cantine", "creche"]


def test_the_catalogue_knows_folded_words_compounds_and_field_labels(services: Services) -> None:
    known = profile(services.fiches, services.embedder)
    assert known.knows("securite") and known.knows("hospitalite")  # folded: « sécurité », « hospitalité »
    assert known.knows("multicanal")  # « multi canal » in the fiche
    assert known.knows("echelle")  # the « Echelle d'action » label of every fiche's metadata
    assert not known.knows("touristes") and not known.knows("sourdes")
    assert known.spread("accueil") == known.fiches and known.spread("enpouvoirement") == 1
    assert known.spread("touristes") == 0


def test_an_unknown_head_concept_refuses_a_covered_paraphrase_does_not(services: Services) -> None:
    tourists = signals("accueil des touristes dans un office de tourisme", services.fiches, services.embedder,
                       quote=0.31)
    assert tourists.head_unknown == ["touristes", "tourisme"] and tourists.head_share == pytest.approx(2 / 3)
    refused = by_signals(tourists)
    assert refused is not None and refused.abstain and "« touristes », « tourisme »" in refused.reason
    paraphrase = signals("le standard est saturé d'appels au moment des inscriptions aux stages pour adultes",
                         services.fiches, services.embedder, quote=0.306)
    assert 0 < paraphrase.head_share < 2 * 0.306 and by_signals(paraphrase) is None


def test_signals_of_a_covered_and_an_unrelated_question(services: Services) -> None:
    covered = signals("City hall lobby redesign: furniture prototypes tested by staff", services.fiches,
                      services.embedder, quote=0.45)
    unrelated = signals("inscriptions à la cantine scolaire et à la crèche", services.fiches,
                        services.embedder, quote=0.2)
    assert covered.share < 0.5 and by_signals(covered) is None
    assert unrelated.share >= 0.75 and unrelated.theme < covered.theme
    assert by_signals(unrelated).abstain


@pytest.mark.parametrize(("found", "abstain"), [
    (Signals(["cantine", "creche"], 1.0, 0.2, 0.3), True),  # unknown words, weak quote
    (Signals(["cantine", "creche"], 1.0, 0.5, 0.3), False),  # a quote close to the question
    (Signals(["murs"], 0.5, 0.25, 0.05), True),  # off theme, half unknown, weak quote
    (Signals(["murs"], 0.5, 0.25, 0.2), False),  # on theme
    (Signals([], 0.0, 0.1, 0.0), False),  # every word known: the cosine rule decides
    (Signals(["sourdes"], 0.4, 0.21, 0.12, 0.5, ["sourdes", "signes"]), True),  # head unknown, quote under half
    (Signals(["sourdes"], 0.4, 0.30, 0.12, 0.5, ["sourdes", "signes"]), False),  # a closer quote
])
def test_by_signals(found: Signals, abstain: bool) -> None:
    decision = by_signals(found)
    assert (decision is not None and decision.abstain) is abstain
    if abstain:
        assert "« " in decision.reason


def test_pipeline_refuses_unknown_vocabulary_and_answers_a_detail_it_lacks(services: Services) -> None:
    refused = ask("vidéosurveillance des parkings municipaux", services).result
    assert refused.abstained and refused.answer.startswith("Le catalogue ne couvre pas cela.")
    head = ask("accueil des personnes sourdes en langue des signes", services).result
    assert head.abstained and "« sourdes », « signes »" in head.answer
    detail = ask("donnez-moi le numéro de téléphone de l'équipe de Saint-Gaudens", services).result
    assert not detail.abstained and "ne précise pas le numéro de téléphone" in detail.answer
    assert detail.citations[0].fiche_id == \
        "l-accueil-et-la-relation-administrative-en-quartier-politique-de-la-ville-et-en"


@pytest.mark.parametrize(("question", "unknown"), [
    ("accueil en mairie de Marseille", ["Marseille"]),
    ("projets menés par la CAF du Rhône", ["CAF"]),
    ("question : Strasbourg ?", ["Strasbourg"]),
    ("projets de l'Agence Grrr à Quimper", []),
    ("COMMENT PRÉSERVER L'ANONYMAT ?", []),  # typed in capitals: no telling names
])
def test_names_the_catalogue_lacks(question: str, unknown: list[str]) -> None:
    assert unknown_names(question, FICHES) == unknown


@pytest.mark.parametrize("question", ["a", "🏛️🤖", "?" * 5000, "\u200b\u200b ?", "Qui ?", "what is it"])
def test_a_question_without_a_word_to_look_for_is_not_answered(services: Services, question: str) -> None:
    result = ask(question, services).result
    assert result.abstained and NO_WORDS in result.answer and result.citations == []


def test_a_short_real_question_is_still_answered(services: Services) -> None:
    assert not ask("MSAP", services).result.abstained
    assert not ask("borne mobile", services).result.abstained


def test_a_capitalised_pronoun_mid_sentence_is_not_a_name() -> None:
    assert proper_names("Comment améliorer le hall Je voudrais des idées, Nous manquons de place") == []
    assert proper_names("what do We know about Brest") == ["Brest"]


def test_residual_words_of_a_names_only_question() -> None:
    assert proper_names("Comment fait Brest ? Et Nantes") == ["Brest", "Nantes"]
    assert residual_words("initiatives à Quimper") == []
    assert residual_words("initiatives à Saint-Méen-le-Grand") == []  # a hyphenated name, every part
    assert residual_words("borne mobile à Saint-Denis") == ["borne", "mobile"]
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
