"""rag.cli.output: the ``search --json`` hit, the ``ask --json`` document and the sources
printed in a terminal."""

from __future__ import annotations

import json

from rag.cli.output import answer_json, format_sources, hit_json
from rag.types import Answer, Chunk, Hit, Source, Unsupported


def source(n: int, fiche_id: str, cited: bool, ville: str = "", url: str = "") -> Source:
    return Source(n=n, fiche_id=fiche_id, title=f"Titre {fiche_id}", section="Description", text="Texte.",
                  url=url, ville=ville, cited=cited, score=0.5)


BREST = source(1, "brest", True, ville="Brest", url="https://brest.fr")
LYON = source(2, "lyon", False, ville="Lyon")
NANTES = source(3, "nantes", False)
ANSWER = Answer(question="et à Brest ?", standalone_question="accueil mairie — et à Brest ?",
                answer="Un accueil repensé [1].", citations=[BREST], sources=[BREST, LYON, NANTES], abstained=False,
                backend="extractive", evidence="1 passage d'une initiative", removed_citations=[7],
                unsupported=[Unsupported(sentence="Un accueil repensé [1].", n=1)], filters={"commune": "Brest"},
                notices=["Question trop longue"])


def test_answer_json_carries_every_field_and_is_json() -> None:
    document = answer_json(ANSWER)
    assert json.loads(json.dumps(document, ensure_ascii=False)) == document
    assert document["citations"] == [{"n": 1, "fiche_id": "brest", "title": "Titre brest", "section": "Description",
                                      "url": "https://brest.fr"}]
    assert [s["fiche_id"] for s in document["sources"]] == ["brest", "lyon", "nantes"]
    assert document["unsupported"] == [{"sentence": "Un accueil repensé [1].", "n": 1}]
    assert {key: document[key] for key in ("answer", "abstained", "backend", "evidence", "error",
                                           "removed_citations", "notices", "question", "standalone_question",
                                           "filters")} == {
        "answer": "Un accueil repensé [1].", "abstained": False, "backend": "extractive",
        "evidence": "1 passage d'une initiative", "error": None, "removed_citations": [7],
        "notices": ["Question trop longue"], "question": "et à Brest ?",
        "standalone_question": "accueil mairie — et à Brest ?", "filters": {"commune": "Brest"}}


def test_sources_cited_first_then_the_others_with_place_and_link() -> None:
    assert format_sources(ANSWER).splitlines() == [
        "Sources citées :",
        "[1] Titre brest › Description — Brest — https://brest.fr",
        "",
        "Aussi trouvés :",
        "[2] Titre lyon › Description — Lyon",
        "[3] Titre nantes › Description",
        "",
        "Éléments de preuve : 1 passage d'une initiative",
    ]


def test_an_abstention_lists_the_closest_initiatives() -> None:
    closest = [source(1, "lyon", False, ville="Lyon")]
    refused = ANSWER.model_copy(update={"citations": [], "sources": closest, "abstained": True,
                                        "evidence": "aucun passage suffisamment pertinent"})
    assert format_sources(refused).splitlines() == [
        "Initiatives proches :", "[1] Titre lyon › Description — Lyon", "",
        "Éléments de preuve : aucun passage suffisamment pertinent"]
    alone = refused.model_copy(update={"sources": []})
    assert format_sources(alone) == "\nÉléments de preuve : aucun passage suffisamment pertinent"


def test_hit_json_is_the_search_json_shape() -> None:
    chunk = Chunk(id="brest::description::0", fiche_id="brest", title="Titre brest", section="Description",
                  text="Accueil repensé.", metadata={"ville": "Brest"})
    assert hit_json(Hit(chunk, 0.123456789, dense=0.5)) == {
        "fiche_id": "brest", "title": "Titre brest", "section": "Description", "score": 0.123457,
        "text": "Accueil repensé."}
