"""How the CLI prints results: a ``search --json`` hit, the ``ask --json`` document and
the numbered sources for a terminal."""

from __future__ import annotations

import json
import sys

from rag.types import Answer, Hit, Source


def hit_json(hit: Hit) -> dict[str, object]:
    """One search hit as the JSON shape of ``search --json``."""
    chunk = hit.chunk
    return {"fiche_id": chunk.fiche_id, "title": chunk.title, "section": chunk.section,
            "score": round(hit.score, 6), "text": chunk.text}


def answer_json(answer: Answer) -> dict[str, object]:
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
        "unsupported": [item.model_dump() for item in answer.unsupported],
        "notices": answer.notices,
        "question": answer.question,
        "standalone_question": answer.standalone_question,
        "filters": answer.filters,
    }


def _source_line(source: Source) -> str:
    place = f" — {source.ville}" if source.ville else ""
    link = f" — {source.url}" if source.url else ""
    return f"{source.heading}{place}{link}"


def format_sources(answer: Answer) -> str:
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


def print_json(payload: object) -> None:
    """Write one JSON document to stdout (UTF-8, not ASCII-escaped)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()
