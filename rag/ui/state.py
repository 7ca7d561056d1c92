"""What the chat keeps per browser session, and one turn as the page shows it.

A :class:`Turn` holds the pipeline's :class:`~rag.types.Answer` as is (no field-by-field
copy), plus what the page adds: the filters deduced from the question, the stored turn's
id, timings and the user's opinion. Stored turns come back from the conversations
database (:meth:`Turn.from_stored`); the session keeps its own copy only so a database
fault loses nothing on screen (:class:`ChatState`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from streamlit.runtime.state import SessionStateProxy

from rag.conversations import FeedbackRecord, StoredTurn, Timings
from rag.conversations.export import ExportTurn, turns_markdown
from rag.markdown import slug
from rag.search.filters import inferred_part
from rag.types import Answer, Source

STATE_KEY = "chat"
EXPORT_NAME = "conversation"
TITLE_SLUG_CHARS = 60


def local_id() -> str:
    """An id for a turn that is not (yet) in the database."""
    return "tmp" + uuid.uuid4().hex[:9]


@dataclass
class Turn:
    """One question and what the app answered."""

    answer: Answer
    inferred: dict[str, str] = field(default_factory=dict)  # filters deduced from the question
    id: str = field(default_factory=local_id)  # the stored turn's id once saved
    saved: bool = False
    timings: Timings = field(default_factory=Timings)
    feedback: FeedbackRecord | None = None

    @property
    def question(self) -> str:
        return self.answer.question

    @property
    def cited(self) -> list[Source]:
        """Sources the answer cites, numbered 1.. in order of first citation."""
        return [s for s in self.answer.sources if s.cited]

    @property
    def others(self) -> list[Source]:
        """Retrieved sources the answer does not cite ("Aussi retrouvés")."""
        return [s for s in self.answer.sources if not s.cited]

    def pair(self) -> tuple[str, str]:
        """This turn as ``(question, answer)``: the pipeline's history format."""
        return (self.answer.question, self.answer.answer)

    @classmethod
    def new(cls, answer: Answer, chosen: dict[str, str], timings: Timings) -> Turn:
        """A fresh turn; the applied filters not ``chosen`` in the sidebar were inferred."""
        return cls(answer=answer, inferred=inferred_part(answer.filters, chosen), timings=timings)

    @classmethod
    def from_stored(cls, stored: StoredTurn) -> Turn:
        """A turn read back from the conversations database."""
        return cls(answer=stored.to_answer(), inferred=dict(stored.inferred_filters), id=stored.id, saved=True,
                   timings=stored.timings, feedback=stored.feedback)


@dataclass
class Pending:
    """A question to answer: ``keep`` the inferred filters kept when re-asked after
    removing chips (``None``: infer them); ``before`` how many turns its history has."""

    question: str
    keep: dict[str, str] | None = None
    before: int | None = None


@dataclass
class ChatState:
    """The session's conversation: its id (``None`` before the first question), its
    stored title (``""`` until read back) and creation time, and the turns last shown,
    the only copy when the database cannot be used."""

    conversation_id: str | None = None
    turns: list[Turn] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # shown once at the next run
    title: str = ""
    created: datetime | None = None
    waiting: list[Pending] = field(default_factory=list)
    """Questions asked and not yet answered and stored, oldest first. A question sent
    while an answer is being written stops that run (Streamlit reruns the script at
    once): the interrupted question stays here and is answered first at the next run."""

    def markdown(self) -> str:
        """The conversation as the download button gives it: the same document as
        ``python -m rag conversations export ID --format md``."""
        return turns_markdown([ExportTurn(turn.answer, turn.feedback) for turn in self.turns], title=self.title,
                              conversation_id=self.conversation_id or "")

    def export_name(self) -> str:
        """The download's file name, from the title and the day the conversation began:
        ``conversation-borne-d-accueil-mobile-2026-11-29.md`` (ASCII, safe on any
        system); ``conversation.md`` while the title is unknown."""
        title = slug(self.title, TITLE_SLUG_CHARS)
        if not title:
            return f"{EXPORT_NAME}.md"
        day = f"-{self.created.astimezone():%Y-%m-%d}" if self.created else ""
        return f"{EXPORT_NAME}-{title}{day}.md"


def chat_state(state: SessionStateProxy) -> ChatState:
    """The session's :class:`ChatState` (created on first use)."""
    current = state.get(STATE_KEY)
    if not isinstance(current, ChatState):
        current = ChatState()
        state[STATE_KEY] = current
    return current
