"""A question pasted with HTML markup is answered as its text (the tags' names are not
searched: « <b>…</b> » used to pull passages containing « b »)."""

from __future__ import annotations

from rag.answer.pipeline import ask
from rag.services import Services


def test_markup_in_the_question_changes_nothing(hashed: Services) -> None:
    plain = ask("Quelle initiative a testé une borne d'accueil mobile ?", hashed).result
    pasted = ask("<p><b>Quelle initiative</b> a testé une <i>borne d'accueil mobile</i>&nbsp;?</p>", hashed).result
    assert pasted.question == plain.question
    assert pasted.citations == plain.citations and pasted.sources == plain.sources
    assert pasted.answer == plain.answer
