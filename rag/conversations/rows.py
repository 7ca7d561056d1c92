"""Rows to models and back: what one turn, conversation or feedback line stores."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import RowMapping

from rag.conversations.models import (
    UNTITLED,
    ConversationSummary,
    FeedbackRecord,
    StoredTurn,
    Timings,
)
from rag.text import fold
from rag.types import Answer, Source

TITLE_CHARS = 80
_ALPHABET = string.ascii_letters + string.digits


def new_id() -> str:
    """A short random id, safe in a URL (``?c=…``) and on a command line (letters and
    digits only, so never taken for an option): 12 characters, 71 random bits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(12))


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (SQLite gives back naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def title_from(question: str) -> str:
    """The first question as a title: one line, at most ~80 characters, cut at a word."""
    line = " ".join(question.split())
    if len(line) <= TITLE_CHARS:
        return line
    return line[:TITLE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


def search_text(title: str, questions: Sequence[str]) -> str:
    """What a search looks into: the title and every question, folded (accents, case)."""
    return fold("\n".join([title, *questions]))


def turn_row(answer: Answer, timings: Timings | None, model: str | None,
             inferred: Mapping[str, str] | None) -> dict[str, object]:
    """The columns of a turn that come from the pipeline's answer."""
    return {
        "question": answer.question, "standalone_question": answer.standalone_question,
        "answer": answer.answer, "sources": [source.model_dump(mode="json") for source in answer.sources],
        "cited": [source.n for source in answer.citations], "backend": answer.backend, "model": model,
        "filters": dict(answer.filters), "inferred_filters": dict(inferred or {}),
        "abstained": answer.abstained, "error": answer.error, "evidence": answer.evidence,
        "notices": list(answer.notices), "timings": (timings or Timings()).model_dump(),
    }


def summary(row: RowMapping, turn_count: int) -> ConversationSummary:
    return ConversationSummary(
        id=row["id"], user_id=row["user_id"], title=row["title"] or UNTITLED, turn_count=turn_count,
        created_at=utc(row["created_at"]), updated_at=utc(row["updated_at"]),
    )


def stored_turn(row: RowMapping, feedback: FeedbackRecord | None = None) -> StoredTurn:
    return StoredTurn(
        id=row["id"], conversation_id=row["conversation_id"], position=row["position"],
        question=row["question"], standalone_question=row["standalone_question"], answer=row["answer"],
        sources=[Source.model_validate(source) for source in row["sources"]], cited_numbers=row["cited"],
        backend=row["backend"], model=row["model"], filters=row["filters"],
        inferred_filters=row["inferred_filters"], abstained=row["abstained"], error=row["error"],
        evidence=row["evidence"], notices=row["notices"], timings=Timings.model_validate(row["timings"]),
        created_at=utc(row["created_at"]), feedback=feedback,
    )


def feedback_record(row: RowMapping) -> FeedbackRecord:
    return FeedbackRecord(
        id=row["id"], turn_id=row["turn_id"], conversation_id=row["conversation_id"], user_id=row["user_id"],
        rating=row["rating"], reasons=row["reasons"], comment=row["comment"], created_at=utc(row["created_at"]),
        question=row.get("question", ""),
    )
