"""What the conversation store returns: plain pydantic models, no database handle.

A :class:`StoredTurn` converts back to the pipeline's :class:`~rag.types.Answer`
(:meth:`StoredTurn.to_answer`), so a page can re-render a stored answer with the same
code as a fresh one; its ``sources`` are :class:`~rag.types.Source` objects.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from rag.text import fold
from rag.types import Answer, Source

Rating = Literal["up", "down"]

REASONS: tuple[str, ...] = ("Information fausse", "Mauvaise source", "Incomplet", "Hors sujet", "Trop long")
"""The reasons a user may tick with a 👎 (fixed list, shown in this order)."""

UNTITLED = "Nouvelle conversation"
"""The title shown for a conversation before its first question."""


class Timings(BaseModel):
    """How long an answer took, in milliseconds (``None``: not measured)."""

    first_token_ms: float | None = None
    total_ms: float | None = None

    @classmethod
    def since(cls, started: float, first: float | None = None) -> Timings:
        """Timings until now from ``time.perf_counter()`` readings: the start and the first
        piece of the answer (``None``: none came, it counts as the end)."""
        end = time.perf_counter()
        return cls(first_token_ms=round(((first or end) - started) * 1000, 1),
                   total_ms=round((end - started) * 1000, 1))


class ConversationSummary(BaseModel):
    """One line of the conversation list."""

    id: str
    user_id: str
    title: str
    turn_count: int
    created_at: datetime
    updated_at: datetime


class FeedbackRecord(BaseModel):
    """One opinion on one answer (with the question it was about)."""

    id: int
    turn_id: str
    conversation_id: str
    user_id: str
    rating: Rating
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""
    created_at: datetime
    question: str = ""


class StoredTurn(BaseModel):
    """One question and what the app answered, as saved."""

    id: str
    conversation_id: str
    position: int
    question: str
    standalone_question: str
    answer: str
    sources: list[Source]
    cited_numbers: list[int]
    backend: str
    model: str | None = None
    filters: dict[str, str] = Field(default_factory=dict)
    inferred_filters: dict[str, str] = Field(default_factory=dict)
    abstained: bool = False
    error: str | None = None
    evidence: str = ""
    notices: list[str] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    created_at: datetime
    feedback: FeedbackRecord | None = None  # the owner's opinion, if given

    @property
    def citations(self) -> list[Source]:
        """The cited sources, in citation order."""
        by_n = {source.n: source for source in self.sources}
        return [by_n[n] for n in self.cited_numbers if n in by_n]

    def pair(self) -> tuple[str, str]:
        """``(question, answer)``: the pipeline's history format."""
        return (self.question, self.answer)

    def to_answer(self) -> Answer:
        """The pipeline's :class:`~rag.types.Answer` this turn was saved from."""
        return Answer(
            question=self.question, standalone_question=self.standalone_question, answer=self.answer,
            citations=self.citations, sources=self.sources, abstained=self.abstained, backend=self.backend,
            evidence=self.evidence, error=self.error, filters=self.filters, notices=self.notices,
        )


class Conversation(ConversationSummary):
    """A conversation with its turns, oldest first."""

    turns: list[StoredTurn] = Field(default_factory=list)


class Initiative(BaseModel):
    """A fiche as the Retours page groups by it."""

    fiche_id: str
    title: str


class RetourItem(BaseModel):
    """An answer a project lead should look at: rated 👎, or answered « non couvert »."""

    turn_id: str
    conversation_id: str
    user_id: str
    question: str
    answer: str
    created_at: datetime
    not_covered: bool
    rating: Rating | None = None
    reasons: list[str] = Field(default_factory=list)
    comment: str = ""
    initiatives: list[Initiative] = Field(default_factory=list)  # cited by the answer
    standalone_question: str = ""  # what was searched: a follow-up made standalone

    @property
    def rewritten(self) -> str | None:
        """The standalone question when it is not the typed one (« et à Nantes ? » with
        the context it was read in), else ``None``: what the eval set needs, since a
        follow-up alone means nothing to ``rag eval``."""
        same = fold(" ".join(self.standalone_question.split())) == fold(" ".join(self.question.split()))
        return None if same or not self.standalone_question.strip() else self.standalone_question


class RetourGroup(BaseModel):
    """Items sharing an initiative or a reason; ``key`` is the fiche id or the reason."""

    key: str
    label: str
    items: list[RetourItem]


NO_INITIATIVE = "Aucune initiative citée"
NOT_COVERED_LABEL = "Non couvert"
NO_REASON = "Sans raison indiquée"


class Retours(BaseModel):
    """The Retours page: every item, newest first, and two groupings of them."""

    items: list[RetourItem]
    more: bool = False  # older retours were left out: the items are the newest ones only

    def by_initiative(self) -> list[RetourGroup]:
        """One group per cited initiative (an item citing two is in both), the largest
        first; answers citing none under « Aucune initiative citée » (key ``""``)."""
        groups: dict[str, RetourGroup] = {}
        for item in self.items:
            for initiative in item.initiatives or [Initiative(fiche_id="", title=NO_INITIATIVE)]:
                group = groups.setdefault(initiative.fiche_id, RetourGroup(
                    key=initiative.fiche_id, label=initiative.title, items=[]))
                group.items.append(item)
        return sorted(groups.values(), key=lambda g: (-len(g.items), g.key == "", g.label))

    def by_reason(self) -> list[RetourGroup]:
        """One group per 👎 reason (in :data:`REASONS` order), then « Sans raison indiquée »
        and « Non couvert »; an item with two reasons is in both."""
        order = [*REASONS, NO_REASON, NOT_COVERED_LABEL]
        groups: dict[str, list[RetourItem]] = {key: [] for key in order}
        for item in self.items:
            keys = list(item.reasons) if item.rating == "down" else []
            if item.rating == "down" and not keys:
                keys = [NO_REASON]
            if item.not_covered:
                keys.append(NOT_COVERED_LABEL)
            for key in keys:
                groups.setdefault(key, []).append(item)
        return [RetourGroup(key=key, label=key, items=items) for key, items in groups.items() if items]
