"""One question's way into a stored conversation: when it started, when the first piece
of the answer came, and the turn stored at the end (the conversation created first when
there is none yet). Every front end stores its turns through it; the API and the command
line also time them with it (:meth:`Exchange.start`, :meth:`Exchange.timed`). The chat
page times its own turn (``rag.ui.chat``), as it must without a database too (the turn
stays in the tab), and it stores an answer of its own (its notices added, or the sources
of a failure): it only calls :meth:`Exchange.add`.

What to do when the database fails stays with each front end (the chat keeps the turn
in the tab, the API logs, the command line prints a note): :meth:`Exchange.save` and
:meth:`Exchange.add` raise :class:`~rag.errors.DatabaseError` as the store does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

from rag.conversations.models import ConversationSummary, StoredTurn, Timings
from rag.search.filters import inferred_part
from rag.types import Answer

if TYPE_CHECKING:  # only a type here: `python -m rag index` need not load the pipeline
    from rag.answer.pipeline import AnswerRun


class TurnStore(Protocol):
    """What an exchange uses of :class:`~rag.conversations.store.ConversationStore` (which
    builds exchanges: this module cannot import it back)."""

    def create_conversation(self, user_id: str, title: str | None = None) -> ConversationSummary: ...

    def add_turn(self, conversation_id: str, user_id: str, answer: Answer, timings: Timings | None = None,
                 model: str | None = None, *, inferred: Mapping[str, str] | None = None) -> StoredTurn: ...


class Exchange:
    """A question and its answer on their way into conversation ``id`` of ``user_id``
    (``None``: a new conversation, created when the turn is stored). The timings count
    from construction, or from :meth:`start`."""

    def __init__(self, store: TurnStore, user_id: str, conversation_id: str | None = None) -> None:
        self.store, self.user_id, self.id = store, user_id, conversation_id
        self.started = time.perf_counter()
        self.first_token: float | None = None

    def start(self) -> None:
        """The timings count from now (the question's Enter, once the set-up is done)."""
        self.started = time.perf_counter()

    def mark_first_token(self) -> None:
        """The first piece of the answer arrived now (later calls change nothing)."""
        if self.first_token is None:
            self.first_token = time.perf_counter()

    def timed(self, pieces: Iterator[str]) -> Iterator[str]:
        """The answer's pieces, noting when the first one arrives."""
        for piece in pieces:
            self.mark_first_token()
            yield piece

    def save(self, run: AnswerRun, chosen: Mapping[str, str]) -> StoredTurn:
        """Store the run's answer as the next turn, timed from :attr:`started`, with the
        filters inferred beyond the ``chosen`` ones."""
        result = run.result
        return self.add(result, Timings.since(self.started, self.first_token), run.model,
                        inferred_part(result.filters, chosen))

    def add(self, answer: Answer, timings: Timings, model: str | None, inferred: Mapping[str, str]) -> StoredTurn:
        """Store ``answer`` as the conversation's next turn, creating the conversation
        first when there is none (:attr:`id` is set then, even if the turn then fails)."""
        if self.id is None:
            self.id = self.store.create_conversation(self.user_id).id
        return self.store.add_turn(self.id, self.user_id, answer, timings, model, inferred=inferred)
