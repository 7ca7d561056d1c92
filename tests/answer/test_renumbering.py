"""Citations numbered in order of first appearance: the first passage cited is [1], in
the streamed text, the sources and the passages the support check reads."""

from __future__ import annotations

from rag.answer.citations import CitationStream, verify_citations
from rag.answer.sources import numbering, order_sources, renumber_passages
from rag.types import Chunk, Passage, Source


def source(n: int) -> Source:
    return Source(n=n, fiche_id=f"f{n}", title=f"Fiche {n}", section="S", text=f"texte {n}", url="")


def test_text_is_renumbered_by_first_citation() -> None:
    check = verify_citations("A [3]. B [1][3]. C [9]. D [2, 1].", {1, 2, 3}, renumber=True)
    assert check.text == "A [1]. B [2][1]. C. D [3][2]."
    assert check.cited == [3, 1, 2] and check.removed == [9]
    assert verify_citations("A [3].", {3}).text == "A [3]."  # off by default


def test_streamed_text_equals_the_whole_text() -> None:
    text = "Le guichet [4] puis l'accueil [2], encore [4] et passage 2."
    stream = CitationStream({1, 2, 3, 4}, renumber=True)
    shown = "".join(stream.feed(text[i:i + 3]) for i in range(0, len(text), 3)) + stream.finish()
    assert shown == verify_citations(text, {1, 2, 3, 4}, renumber=True).text
    assert shown == "Le guichet [1] puis l'accueil [2], encore [1] et passage [2]."


def test_sources_and_passages_follow_the_same_numbers() -> None:
    sources = [source(n) for n in (1, 2, 3, 4)]
    shown = numbering([1, 2, 3, 4], [3, 1])
    ordered = order_sources(sources, [3, 1], shown)
    assert [(s.n, s.fiche_id, s.cited) for s in ordered] == [(1, "f3", True), (2, "f1", True), (3, "f2", False),
                                                            (4, "f4", False)]
    assert numbering([1, 2, 3, 4], []) == {1: 1, 2: 2, 3: 3, 4: 4}
    chunk = Chunk(id="c", fiche_id="f3", title="Fiche 3", section="S", text="texte 3")
    passages = renumber_passages([Passage(n=3, chunk=chunk)], shown)
    assert passages[0].n == 1
