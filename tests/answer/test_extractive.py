"""The extractive backend's choice of initiatives: by how well a sentence answers the
question (key terms, similarity, rank), every initiative of a place for a place-only
question, and « La fiche ne précise pas … » for a missing detail."""

from __future__ import annotations

import re

import pytest

from rag.answer.backends import create_backend
from rag.answer.backends.base import Backend
from rag.answer.backends.extractive import LIST_QUESTION
from rag.answer.details import missing_detail
from rag.answer.evidence import score_sentences, split_sentences, terms
from rag.config import load_settings
from rag.text import fold
from rag.types import Chunk, GenerationRequest, Passage

MEEN, CDAS, DENIS = "Espace France Services de Saint-Méen", "CDAS du Finistère", "Médiation numérique à Saint-Denis"


def passage(n: int, fiche: str, text: str, score: float = 0.0, dense: float | None = None,
            **metadata: str) -> Passage:
    return Passage(n=n, score=score, dense=dense, chunk=Chunk(id=f"{fiche}::{n}", fiche_id=fiche, title=fiche,
                                                              section="Réalisations", text=text, metadata=metadata))


def cited(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


@pytest.fixture(scope="module")
def backend() -> Backend:
    return create_backend("extractive", load_settings())


def answer(backend: Backend, question: str, passages: list[Passage], **request: object) -> str:
    return "".join(backend.stream(GenerationRequest(question=question, passages=passages, **request)))


def test_a_which_initiative_question_names_only_the_one_that_did_it(backend: Backend) -> None:
    passages = [passage(1, MEEN, "Une borne d'accueil mobile a été expérimentée à l'entrée.", 0.9, 0.4),
                passage(2, CDAS, "Une expérimentation de l'accueil a été menée pendant six mois.", 0.85, 0.35),
                passage(3, DENIS, "L'accueil numérique est en test depuis février.", 0.8, 0.3)]
    text = answer(backend, "Quelle initiative a testé une borne d'accueil mobile ?", passages)
    assert MEEN in text and CDAS not in text and DENIS not in text and cited(text) == {1}


def test_several_initiatives_that_did_it_are_all_listed(backend: Backend) -> None:
    passages = [passage(1, MEEN, "Des prototypes de mobilier d'accueil ont été fabriqués et testés.", 0.9, 0.4),
                passage(2, CDAS, "Les agents ont testé des prototypes de mobilier fabriqués sur place.", 0.88, 0.4),
                passage(3, DENIS, "Un médiateur numérique accueille le public.", 0.7, 0.2)]
    text = answer(backend, "Quelles initiatives ont fabriqué et testé des prototypes de mobilier ?", passages)
    assert text.count("- **") == 2 and cited(text) == {1, 2}


def test_a_question_starting_with_the_plural_lists_every_initiative_that_did_it(backend: Backend) -> None:
    passages = [passage(1, MEEN, "L'Agence Grrr a accompagné la démarche.", 1.0, 0.5),
                passage(2, CDAS, "L'Agence Grrr a animé les ateliers.", 0.9, 0.45),
                passage(3, DENIS, "L'Agence Grrr a dessiné les parcours.", 0.8, 0.4)]  # 0.4 under the best
    assert cited(answer(backend, "projets de l'Agence Grrr", passages)) == {1, 2, 3}
    assert cited(answer(backend, "l'Agence Grrr a-t-elle travaillé sur l'accueil ?", passages)) == {1, 2}


@pytest.mark.parametrize(("question", "listing"), [
    ("projets de l'Agence Grrr", True), ("retours d'expérience sur l'ouverture d'une MSAP", True),
    ("dans quels projets intervient Jacky Foucher ?", True), ("quelles démarches ont revu la signalétique ?", True),
    ("initiatives menées à l'échelle d'un département", True), ("Which projects paired designers?", True),
    ("une liste de cent points de vigilance", False), ("quel projet a porté Youen Grall ?", False),
    ("les projets ont-ils réussi ?", False), ("fiches navettes pour les agents du back-office", False),
])
def test_list_questions(question: str, listing: bool) -> None:
    assert bool(LIST_QUESTION.search(fold(question))) is listing


def test_similarity_brings_a_paraphrase_without_shared_words(backend: Backend) -> None:
    passages = [passage(1, CDAS, "Les usagers patientent dans un hall bruyant.", 0.5, 0.3),
                passage(2, MEEN, "La confidentialité des échanges est garantie au guichet.", 0.5, 0.3)]
    question = "How is privacy kept at the desk?"
    text = answer(backend, question, passages, similarity={"La confidentialité des échanges est garantie au "
                                                           "guichet.": 0.6, "Les usagers patientent dans un hall "
                                                           "bruyant.": 0.1})
    assert cited(text) == {2}


def test_a_place_only_question_lists_every_initiative_there(backend: Backend) -> None:
    passages = [passage(1, MEEN, "L'accueil a été repensé avec les agents.", 0.8, 0.3),
                passage(2, CDAS, "Un référentiel d'accueil proactif a été écrit.", 0.8, 0.3)]
    text = answer(backend, "tout ce qui a été fait en Bretagne sur l'accueil", passages,
                  filters={"region": "Bretagne"})
    assert text.count("- **") == 2 and cited(text) == {1, 2}
    narrowed = answer(backend, "quelles initiatives en Bretagne ont écrit un référentiel ?", passages,
                      filters={"region": "Bretagne"})
    assert cited(narrowed) == {2}  # a question term only one of them holds: not a place-only question


def test_evidence_scores_coverage_similarity_and_rank() -> None:
    passages = [passage(1, MEEN, "Une borne d'accueil mobile a été installée. Le hall est grand.", 1.0, 0.5)]
    sentences = split_sentences(passages[0], 320)
    score_sentences(terms("borne mobile"), sentences, {sentences[0].text: 0.5})
    first, second = sentences
    assert first.coverage == 1.0 and second.coverage == 0.0
    assert first.similarity == 0.5 and first.rank == second.rank == 1.0
    assert first.score == pytest.approx(1.0 + 0.5 + 2.0)


def test_a_line_announcing_what_follows_is_quoted_with_it() -> None:
    text = "- Design de service =\n- Embarquer les agents et les usagers.\nLes enseignements sont les suivants :\n" \
           "- Prendre le temps de préparer.\nUne phrase seule."
    quoted = [s.text for s in split_sentences(passage(1, MEEN, text), 320)]
    assert quoted == ["Design de service = Embarquer les agents et les usagers.",
                      "Les enseignements sont les suivants : Prendre le temps de préparer.", "Une phrase seule."]


@pytest.mark.parametrize(("question", "text", "missing"), [
    ("quel est le numéro de téléphone du Liberté Living Lab ?", "Le lab anime des ateliers.", "le numéro de téléphone"),
    ("quel est le numéro de téléphone du lab ?", "Appelez le 02 98 00 12 34.", None),
    ("quel budget a été alloué à l'espace numérique ?", "L'espace a ouvert en février.", "le budget ni le coût"),
    ("combien a coûté le réaménagement du hall ?", "Le coût des travaux avoisine les 400 000 € TTC.", None),
    ("quel taux de satisfaction a été mesuré ?", "Les usagers sont satisfaits.", "ce taux"),
    ("combien de citoyens ont participé aux ateliers ?", "Trois ateliers ont été menés.", "ce nombre"),
    ("combien de citoyens ont participé aux ateliers ?", "Une vingtaine de citoyens ont participé.", None),
    ("comment l'accueil a-t-il été repensé ?", "L'accueil a été repensé.", None),  # not a detail question
])
def test_missing_detail(question: str, text: str, missing: str | None) -> None:
    found = missing_detail(question, [passage(3, CDAS, text, contact="Youen Grall", lien="https://exemple.fr")])
    if missing is None:
        assert found is None
    else:
        assert found.startswith(f"La fiche « {CDAS} » ne précise pas {missing}.")
        assert "Contact indiqué par la fiche : Youen Grall; https://exemple.fr. [3]" in found


def test_detail_answer_cites_the_fiche_and_its_closest_quotes(backend: Backend) -> None:
    passages = [passage(1, CDAS, "Le Liberté Living Lab anime des ateliers avec les habitants.", 0.9, 0.4,
                        contact="Liverté Living Lab")]
    text = answer(backend, "quel est le numéro de téléphone du Liberté Living Lab ?", passages)
    assert text.startswith(f"La fiche « {CDAS} » ne précise pas le numéro de téléphone. Contact indiqué")
    assert "anime des ateliers" in text and cited(text) == {1}
