"""What an answer shows besides its text: the sources, their order, the evidence
summary, and the spam-URL mask applied to the answer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel

from rag.backends.base import Passage
from rag.cleaning import is_spam, load_denylist, mask_spam
from rag.fiche import Fiche


class Source(BaseModel):
    """A retrieved passage as shown to the user; ``n`` is its number in the answer."""

    n: int
    fiche_id: str
    title: str
    section: str
    text: str
    url: str
    ville: str = ""
    echelle: str = ""
    acteur: str = ""
    type_acteur: str = ""
    score: float = 0.0
    cited: bool = False


def make_sources(hits: Iterable, fiches: Mapping[str, Fiche], denylist: list[str] | None = None) -> list[Source]:
    """Hits (``rag.retrieval.Hit``) -> sources numbered 1..n in rank order. The URL is the
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
        ))
    return sources


def order_sources(sources: list[Source], cited: list[int]) -> list[Source]:
    """Cited sources first, in order of first citation (``cited=True``), then the rest."""
    by_n = {s.n: s for s in sources}
    first = [by_n[n].model_copy(update={"cited": True}) for n in cited if n in by_n]
    rest = [s.model_copy(update={"cited": False}) for s in sources if s.n not in set(cited)]
    return first + rest


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


_denylists: dict[tuple[str, int], list[str]] = {}


def denylist(path: Path) -> list[str]:
    """The deny-list patterns, re-read when the file changes."""
    try:
        key = (str(path), os.stat(path).st_mtime_ns)
    except OSError:
        return []
    if key not in _denylists:
        _denylists.clear()
        _denylists[key] = load_denylist(path)
    return _denylists[key]


_LINK_STARTS = ("http://", "https://", "www.")


def link_guard(patterns: list[str]) -> tuple[Callable[[str], str], Callable[[str], bool]]:
    """For :class:`rag.citations.CitationStream`: mask URLs matching the deny-list
    ``patterns`` (see :func:`denylist`) in released text, and hold back an unfinished word
    that may still become one (URL-like, or ending with the start of a pattern). Without
    patterns, nothing is masked or held."""
    if not patterns:
        return (lambda text: text), (lambda word: False)

    def hold(word: str) -> bool:
        folded = word.casefold().rstrip(".,;:!?)»\"'")
        if not folded:
            return False
        if any(start.startswith(folded) or folded.startswith(start) for start in _LINK_STARTS):
            return True
        if any(mark in folded for mark in ".:/@"):
            return True
        return any(p.startswith(folded[-i:]) for p in patterns for i in range(1, min(len(p), len(folded)) + 1))

    return (lambda text: mask_spam(text, patterns)), hold


def answer_json(answer) -> dict:  # noqa: ANN001 - rag.pipeline.Answer
    """The ``ask --json`` document."""
    return {
        "answer": answer.answer,
        "citations": [{"n": s.n, "fiche_id": s.fiche_id, "title": s.title, "section": s.section, "url": s.url}
                      for s in answer.citations],
        "sources": [s.model_dump() for s in answer.sources],
        "abstained": answer.abstained,
        "backend": answer.backend,
        "evidence": answer.evidence,
        "error": answer.error,
        "removed_citations": answer.removed_citations,
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "filters": answer.filters,
    }


def source_heading(source) -> str:  # noqa: ANN001 - Source or a UI turn's source
    """``[n] Titre › Section`` (plain text): how a source is named in the CLI and the UI."""
    return f"[{source.n}] {source.title} › {source.section}"


def _source_line(source: Source) -> str:
    place = f" — {source.ville}" if source.ville else ""
    link = f" — {source.url}" if source.url else ""
    return f"{source_heading(source)}{place}{link}"


def format_sources(answer) -> str:  # noqa: ANN001 - rag.pipeline.Answer
    """The numbered sources for the terminal: cited first, then "also retrieved"."""
    cited = [s for s in answer.sources if s.cited]
    others = [s for s in answer.sources if not s.cited]
    lines = []
    if cited:
        lines += ["Sources citées :", *(_source_line(s) for s in cited)]
    if others:
        title = "Initiatives proches :" if answer.abstained else "Aussi trouvés :"
        lines += ([""] if lines else []) + [title, *(_source_line(s) for s in others)]
    lines += ["", f"Éléments de preuve : {answer.evidence}"]
    return "\n".join(lines)
