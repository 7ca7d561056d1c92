"""What the chat keeps per browser session: the list of :class:`Turn` objects.

A turn is a copy of what the pipeline returned (question, answer, sources, error...),
decoupled from the pipeline's own types so the page can re-render any past answer,
export it and attach feedback to it without calling the pipeline again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

TURNS_KEY = "turns"


@dataclass
class Turn:
    """One question and what the app answered."""

    question: str
    answer: str = ""
    sources: list[Any] = field(default_factory=list)  # rag.answer.pipeline.Source objects
    evidence: str = ""
    abstained: bool = False
    error: str | None = None
    backend: str = ""
    filters: dict[str, str] = field(default_factory=dict)  # applied to retrieval
    inferred: dict[str, str] = field(default_factory=dict)  # deduced from the question
    notices: list[str] = field(default_factory=list)  # e.g. "question tronquée"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def cited(self) -> list[Any]:
        """Sources the answer cites, in citation order."""
        return [s for s in self.sources if getattr(s, "cited", False)]

    @property
    def others(self) -> list[Any]:
        """Retrieved sources the answer does not cite ("Aussi retrouvés")."""
        return [s for s in self.sources if not getattr(s, "cited", False)]

    def pair(self) -> tuple[str, str]:
        """This turn as ``(question, answer)``: the pipeline's history format."""
        return (self.question, self.answer)


def turns(state: Any) -> list[Turn]:
    """The session's turns (created empty on first use)."""
    if TURNS_KEY not in state:
        state[TURNS_KEY] = []
    return state[TURNS_KEY]


def history(state: Any) -> list[tuple[str, str]]:
    """All past turns as ``(question, answer)`` pairs, oldest first (for follow-ups)."""
    return [turn.pair() for turn in turns(state)]


def turn_from_answer(answer: Any, chosen: dict[str, str]) -> Turn:
    """A :class:`Turn` from a pipeline ``Answer`` (``rag.answer.pipeline``); the applied filters
    not ``chosen`` in the sidebar are the ones inferred from the question."""
    applied = dict(answer.filters or {})
    return Turn(
        question=answer.question,
        answer=answer.answer,
        sources=list(answer.sources),
        evidence=answer.evidence or "",
        abstained=bool(answer.abstained),
        error=answer.error,
        backend=answer.backend,
        filters=applied,
        inferred={k: v for k, v in applied.items() if chosen.get(k) != v},
        notices=list(getattr(answer, "notices", []) or []),
    )
