"""What an answer shows besides its text: the sources, their order, the evidence
summary, and the spam-URL mask applied to the answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rag.catalogue.fiche import Fiche
from rag.catalogue.spam import is_spam, mask_spam
from rag.types import Passage, Source


def make_sources(hits: Iterable, fiches: Mapping[str, Fiche], denylist: list[str] | None = None) -> list[Source]:
    """Hits (``rag.search.retrieval.Hit``) -> sources numbered 1..n in rank order. The URL is the
    fiche's http(s) link (never ``javascript:``), dropped if the deny-list flags it; spam
    URLs in the passage text (a hand-edited fiche) are masked as in the answer."""
    sources = []
    for n, hit in enumerate(hits, start=1):
        chunk, meta = hit.chunk, hit.chunk.metadata
        fiche = fiches.get(chunk.fiche_id)
        url = fiche.link if fiche else ""
        if url and denylist and is_spam(url, denylist):
            url = ""
        sources.append(Source(
            n=n, fiche_id=chunk.fiche_id, title=chunk.title, section=chunk.section,
            text=mask_spam(chunk.text, denylist) if denylist else chunk.text,
            url=url, ville=meta.get("ville", ""), echelle=meta.get("echelle", ""),
            acteur=meta.get("acteur", ""), type_acteur=meta.get("type_acteur", ""), score=hit.score,
            part=chunk.part,
        ))
    return sources


def numbering(numbers: Iterable[int], cited: list[int]) -> dict[int, int]:
    """Passage number -> number shown: the cited ones 1.. in order of first citation (as
    :class:`~rag.answer.citations.CitationStream` writes them with ``renumber``), then
    the others in rank order."""
    order = list(dict.fromkeys(cited)) + sorted(set(numbers) - set(cited))
    return {n: i for i, n in enumerate(order, start=1)}


def order_sources(sources: list[Source], cited: list[int], shown: Mapping[int, int]) -> list[Source]:
    """Cited sources first, in order of first citation (``cited=True``), then the rest;
    renumbered by ``shown`` (:func:`numbering` of the sources, also applied to the
    passages by :func:`renumber_passages`) so the first cited is ``[1]``."""
    by_n = {s.n: s for s in sources}
    first = [by_n[n].model_copy(update={"cited": True, "n": shown[n]}) for n in cited if n in by_n]
    rest = [s.model_copy(update={"cited": False, "n": shown[s.n]}) for s in sources if s.n not in set(cited)]
    return first + rest


def renumber_passages(passages: list[Passage], shown: Mapping[int, int]) -> list[Passage]:
    """The passages numbered as the answer shows them (``shown``: :func:`numbering`)."""
    return [p.model_copy(update={"n": shown.get(p.n, p.n)}) for p in passages]


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


def _of(n: int) -> str:
    return "d'une initiative" if n == 1 else f"de {n} initiatives"


def evidence_summary(given: list[Passage], citations: list[Source], abstained: bool) -> str:
    """One French line: what the answer rests on ("3 passages de 2 initiatives")."""
    if abstained:
        return "aucun passage suffisamment pertinent"
    if citations:
        return f"{_count(len(citations), 'passage')} {_of(len({s.fiche_id for s in citations}))}"
    if given:
        fiches = len({p.chunk.fiche_id for p in given})
        return f"aucune citation ({_count(len(given), 'passage')} {_of(fiches)} fournis)"
    return "aucun passage"
