"""The conversation store: conversations, their turns and the feedback on them, per user.

Every method takes the ``user_id`` (see :mod:`rag.conversations.identity`); a
conversation, turn or feedback of another user is reported as not found, never shown.
The database is opened and migrated on first use, not at construction, and again after
a failure: a store built while PostgreSQL is down works as soon as it is back.

Failures raise :class:`~rag.errors.DatabaseError` (catch it to go on answering without
saving) or :class:`~rag.errors.ConversationNotFound` / :class:`~rag.errors.InputError`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from rag.config import Settings
from rag.conversations import feedback as fb
from rag.conversations.database import (
    WRITE,
    WriteConflict,
    database_url,
    describe,
    make_engine,
    parse_url,
    prepare_location,
    translated,
)
from rag.conversations.evalset import append_to_eval_set
from rag.conversations.exchange import Exchange
from rag.conversations.identity import LOCAL_USER
from rag.conversations.legacy import LEGACY_FILE, import_legacy_feedback, legacy_pending
from rag.conversations.migrate import check_known, current_revision, head, upgrade
from rag.conversations.models import (
    Conversation,
    ConversationSummary,
    FeedbackRecord,
    Rating,
    Retours,
    StoredTurn,
    Timings,
)
from rag.conversations.rows import new_id, now, search_text, stored_turn, summary, title_from, turn_row
from rag.conversations.schema import ID_LENGTH, USER_LENGTH, conversations, turns
from rag.errors import ConversationNotFound, DatabaseError, DatabaseLocked, InputError
from rag.text import fold
from rag.types import Answer

TURN_ATTEMPTS = 5
"""Tries of :meth:`ConversationStore.add_turn` when another writer took the position."""
RETOURS_LIMIT = 500
"""Items :meth:`ConversationStore.retours` lists at most (the newest; ``Retours.more`` says so)."""


def check_user(user_id: str) -> str:
    """A usable user id, or InputError."""
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > USER_LENGTH:
        raise InputError(f"identifiant d'utilisateur invalide (1 à {USER_LENGTH} caractères)")
    return user_id


def not_found(conversation_id: str) -> ConversationNotFound:
    shown = conversation_id if len(conversation_id) <= ID_LENGTH else conversation_id[:ID_LENGTH] + "…"
    return ConversationNotFound(
        f"conversation « {shown} » introuvable (supprimée, ou ouverte avec un autre compte) : "
        "`python -m rag conversations list` donne les identifiants."
    )


class ConversationStore:
    """Conversations, turns and feedback in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, legacy_feedback: Path | None = None, busy_timeout: float = 5.0,
                 connect_timeout: float = 5.0) -> None:
        """``url``: a SQLAlchemy URL; ``legacy_feedback``: an old ``feedback.jsonl`` to
        import once; ``busy_timeout``: seconds a SQLite writer waits for another."""
        self.url = parse_url(url)
        self.where = describe(self.url)
        self.engine = make_engine(self.url, busy_timeout=busy_timeout, connect_timeout=connect_timeout)
        self._legacy = legacy_feedback
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ConversationStore:
        """The store of ``RAG_DATABASE_URL`` (default ``<data dir>/app.db``), importing the
        data dir's old ``feedback.jsonl`` once."""
        return cls(database_url(settings), legacy_feedback=settings.data_dir / LEGACY_FILE)

    def close(self) -> None:
        """Close the pooled connections (the store reopens them if used again)."""
        self.engine.dispose()

    # -- plumbing ------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Migrate (and import the old feedback file) once, on first use; a failure is
        raised and the next call tries again."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            prepare_location(self.url)
            with translated(self.url), self.engine.connect() as conn:
                with conn.begin():  # a read first: a read-only database at head can still be read
                    revision = current_revision(conn)
                    check_known(revision, self.where)
                    pending = revision != head() or legacy_pending(conn, self._legacy)
                if pending:
                    conn.execution_options(**{WRITE: True})
                    with conn.begin():
                        upgrade(conn, self.where)
                        if self._legacy is not None:
                            import_legacy_feedback(conn, self._legacy, LOCAL_USER)
            self._ready = True

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        """A connection inside a transaction, committed at the end of the block. After a
        failure other than a lock or a conflict, the pooled connections are dropped and
        the database checked again on next use (the file may have been replaced)."""
        try:
            self._prepare()
            with translated(self.url), self.engine.connect() as conn:
                if write:
                    conn.execution_options(**{WRITE: True})
                with conn.begin():
                    yield conn
        except (DatabaseLocked, WriteConflict):
            raise
        except DatabaseError:
            self._ready = False
            self.engine.dispose()
            raise

    def _owned(self, conn: Connection, conversation_id: str, user_id: str, *, lock: bool = False) -> RowMapping:
        """The conversation row if ``user_id`` owns it, else ConversationNotFound."""
        query = select(conversations).where(conversations.c.id == conversation_id,
                                            conversations.c.user_id == check_user(user_id))
        row = conn.execute(query.with_for_update() if lock else query).mappings().first()
        if row is None:
            raise not_found(conversation_id)
        return row

    @staticmethod
    def _turn_count(conn: Connection, conversation_id: str) -> int:
        return conn.execute(select(func.count()).where(turns.c.conversation_id == conversation_id)).scalar_one()

    # -- conversations -------------------------------------------------------------------
    def create_conversation(self, user_id: str, title: str | None = None) -> ConversationSummary:
        """A new, empty conversation; without ``title`` the first question names it."""
        check_user(user_id)
        title = _check_title(title) if title is not None else ""
        stamp = now()
        row = {"id": new_id(), "user_id": user_id, "title": title, "search_text": search_text(title, []),
               "created_at": stamp, "updated_at": stamp}
        with self._transaction(write=True) as conn:
            conn.execute(insert(conversations).values(**row))
        return summary(row, 0)  # type: ignore[arg-type]

    def list_conversations(self, user_id: str, search: str | None = None, limit: int = 100,
                           offset: int = 0) -> list[ConversationSummary]:
        """The user's conversations, most recently updated first; ``search`` keeps those
        whose title or a question contains it (accents and case ignored)."""
        count = select(func.count()).where(turns.c.conversation_id == conversations.c.id).scalar_subquery()
        query = (select(conversations, count.label("turn_count"))
                 .where(conversations.c.user_id == check_user(user_id))
                 .order_by(conversations.c.updated_at.desc(), conversations.c.id)
                 .limit(max(1, limit)).offset(max(0, offset)))
        if search and search.strip():
            query = query.where(conversations.c.search_text.contains(fold(search.strip()), autoescape=True))
        with self._transaction() as conn:
            return [summary(row, row["turn_count"]) for row in conn.execute(query).mappings()]

    def get_conversation(self, conversation_id: str, user_id: str) -> Conversation:
        """The conversation with its turns (oldest first), each with the user's feedback."""
        with self._transaction() as conn:
            row = self._owned(conn, conversation_id, user_id)
            opinions = fb.opinions(conn, conversation_id, user_id)
            rows = conn.execute(select(turns).where(turns.c.conversation_id == conversation_id)
                                .order_by(turns.c.position)).mappings().all()
        stored = [stored_turn(turn, opinions.get(turn["id"])) for turn in rows]
        return Conversation(**summary(row, len(stored)).model_dump(), turns=stored)

    def rename_conversation(self, conversation_id: str, user_id: str, title: str) -> ConversationSummary:
        """Give the conversation a new title (1 to 200 characters)."""
        title = _check_title(title)
        with self._transaction(write=True) as conn:
            row = self._owned(conn, conversation_id, user_id, lock=True)
            questions = conn.execute(select(turns.c.question).where(turns.c.conversation_id == conversation_id)
                                     .order_by(turns.c.position)).scalars().all()
            changes = {"title": title, "search_text": search_text(title, questions), "updated_at": now()}
            conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(**changes))
        return summary({**row, **changes}, len(questions))  # type: ignore[arg-type]

    def delete_conversation(self, conversation_id: str, user_id: str) -> None:
        """Delete the conversation; its turns and their feedback go with it (the foreign
        keys cascade: ``PRAGMA foreign_keys`` is on for SQLite, see ``database.py``)."""
        with self._transaction(write=True) as conn:
            self._owned(conn, conversation_id, user_id, lock=True)
            conn.execute(delete(conversations).where(conversations.c.id == conversation_id))

    # -- turns ---------------------------------------------------------------------------
    def add_turn(self, conversation_id: str, user_id: str, answer: Answer, timings: Timings | None = None,
                 model: str | None = None, *, inferred: Mapping[str, str] | None = None) -> StoredTurn:
        """Append ``answer`` as the conversation's next turn. The position is taken inside
        the write transaction (row lock, unique position, retry), so two tabs writing to
        one conversation never interleave or lose a turn. The first turn names an
        untitled conversation. ``inferred``: the filters deduced from the question."""
        values = turn_row(answer, timings, model, inferred)
        for attempt in range(1, TURN_ATTEMPTS + 1):
            try:
                return self._append(conversation_id, user_id, values)
            except WriteConflict:
                if attempt == TURN_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _append(self, conversation_id: str, user_id: str, values: dict[str, object]) -> StoredTurn:
        with self._transaction(write=True) as conn:
            row = self._owned(conn, conversation_id, user_id, lock=True)
            position = conn.execute(select(func.coalesce(func.max(turns.c.position) + 1, 0))
                                    .where(turns.c.conversation_id == conversation_id)).scalar_one()
            stamp, question = now(), str(values["question"])
            turn = {**values, "id": new_id(), "conversation_id": conversation_id, "position": position,
                    "created_at": stamp}
            conn.execute(insert(turns).values(**turn))
            title = row["title"] or title_from(question)
            found = search_text(title, [question]) if not row["title"] else f"{row['search_text']}\n{fold(question)}"
            conn.execute(update(conversations).where(conversations.c.id == conversation_id)
                         .values(title=title, search_text=found, updated_at=stamp))
        return stored_turn(turn)  # type: ignore[arg-type]

    def history(self, conversation_id: str, user_id: str) -> list[tuple[str, str]]:
        """The conversation as ``(question, answer)`` pairs, oldest first: what
        ``rag.answer.pipeline.ask(history=…)`` takes to resolve a follow-up."""
        with self._transaction() as conn:
            self._owned(conn, conversation_id, user_id)
            rows = conn.execute(select(turns.c.question, turns.c.answer)
                                .where(turns.c.conversation_id == conversation_id).order_by(turns.c.position))
            return [(question, answer) for question, answer in rows]

    def check_owned(self, conversation_id: str, user_id: str) -> None:
        """ConversationNotFound unless the user owns the conversation: one read of its id,
        for a caller that has the turns already (an API client resending its messages)."""
        query = select(conversations.c.id).where(conversations.c.id == conversation_id,
                                                 conversations.c.user_id == check_user(user_id))
        with self._transaction() as conn:
            if conn.execute(query).first() is None:
                raise not_found(conversation_id)

    def exchange(self, user_id: str, conversation_id: str | None = None) -> Exchange:
        """A question on its way into the user's conversation ``conversation_id`` (``None``:
        a new one, created with the turn): see :class:`~rag.conversations.exchange.Exchange`."""
        return Exchange(self, user_id, conversation_id)

    # -- feedback ------------------------------------------------------------------------
    def add_feedback(self, turn_id: str, user_id: str, rating: Rating, reasons: Sequence[str] = (),
                     comment: str = "") -> FeedbackRecord:
        """Record the user's opinion of one answer (replacing an earlier one): 👍/👎,
        reasons from :data:`~rag.conversations.models.REASONS` (👎 only), a comment."""
        check_user(user_id)
        reasons, comment = fb.check_opinion(rating, reasons, comment)
        with self._transaction(write=True) as conn:
            return fb.upsert(conn, turn_id, user_id, rating, reasons, comment)

    def list_feedback(self, user_id: str, *, rating: Rating | None = None, limit: int = 200,
                      all_users: bool = False) -> list[FeedbackRecord]:
        """The user's feedback, newest first (``all_users``: everyone's, for a project lead)."""
        check_user(user_id)
        with self._transaction() as conn:
            return fb.select_feedback(conn, None if all_users else user_id, rating, limit)

    def retours(self, user_id: str, *, all_users: bool = False, limit: int = RETOURS_LIMIT) -> Retours:
        """What the Retours page lists: answers rated 👎 and answers « non couvert »,
        newest first, each with its conversation id and the standalone question its turn
        was searched with (a follow-up's context); group them with
        :meth:`Retours.by_initiative` and :meth:`Retours.by_reason`. At most ``limit``:
        one more is read to tell whether older ones were left out (``Retours.more``)."""
        check_user(user_id)
        with self._transaction() as conn:
            limit = max(1, limit)
            found = fb.select_retours(conn, None if all_users else user_id, limit + 1)
        return Retours(items=found[:limit], more=len(found) > limit)

    @staticmethod
    def append_to_eval_set(question: str, expected_fiche_ids: Sequence[str], path: Path,
                           typed: str | None = None) -> bool:
        """See :func:`rag.conversations.evalset.append_to_eval_set` (``path``: the setting
        ``feedback_eval_path``)."""
        return append_to_eval_set(question, expected_fiche_ids, path, typed)


def _check_title(title: str) -> str:
    title = " ".join(str(title).split())
    if not title or len(title) > 200:
        raise InputError("titre de conversation invalide : 1 à 200 caractères")
    return title
