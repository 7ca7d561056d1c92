"""Feedback queries of the store: one opinion per user and answer, the feedback list, and
the Retours page (answers rated 👎 and answers « non couvert »). Each function runs in
the caller's transaction; ``user_id=None`` means every user (a project lead's view)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, insert, or_, select, true
from sqlalchemy.engine import Connection

from rag.conversations.models import REASONS, FeedbackRecord, Initiative, Rating, RetourItem
from rag.conversations.rows import feedback_record, now, utc
from rag.conversations.schema import conversations, feedback, turns
from rag.errors import ConversationNotFound, InputError

COMMENT_CHARS = 2000


def check_opinion(rating: str, reasons: Sequence[str], comment: str) -> tuple[list[str], str]:
    """Validated ``(reasons, comment)``; InputError in French otherwise."""
    if rating not in ("up", "down"):
        raise InputError(f"avis invalide « {rating} » : attendu « up » (👍) ou « down » (👎)")
    chosen = list(dict.fromkeys(reasons))
    unknown = [reason for reason in chosen if reason not in REASONS]
    if unknown:
        raise InputError(f"raison inconnue : {', '.join(unknown)} (valides : {', '.join(REASONS)})")
    if chosen and rating == "up":
        raise InputError("les raisons ne s'indiquent qu'avec un avis 👎")
    comment = (comment or "").strip()
    if len(comment) > COMMENT_CHARS:
        raise InputError(f"commentaire trop long ({len(comment)} caractères, {COMMENT_CHARS} au plus)")
    return chosen, comment


def upsert(conn: Connection, turn_id: str, user_id: str, rating: Rating, reasons: list[str],
           comment: str) -> FeedbackRecord:
    """Replace the user's opinion of ``turn_id`` (a turn of one of their conversations)."""
    owned = conn.execute(
        select(turns.c.conversation_id, turns.c.question)
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .where(turns.c.id == turn_id, conversations.c.user_id == user_id)
    ).first()
    if owned is None:
        raise ConversationNotFound(f"réponse « {turn_id[:40]} » introuvable pour cet utilisateur")
    conn.execute(delete(feedback).where(feedback.c.turn_id == turn_id, feedback.c.user_id == user_id))
    row = {"turn_id": turn_id, "conversation_id": owned.conversation_id, "user_id": user_id, "rating": rating,
           "reasons": reasons, "comment": comment, "created_at": now()}
    key = conn.execute(insert(feedback).values(**row)).inserted_primary_key
    assert key is not None
    return feedback_record({**row, "id": key[0], "question": owned.question})  # type: ignore[arg-type]


def opinions(conn: Connection, conversation_id: str, user_id: str) -> dict[str, FeedbackRecord]:
    """turn id -> the user's opinion, for one conversation."""
    rows = conn.execute(select(feedback, turns.c.question).join(turns, turns.c.id == feedback.c.turn_id)
                        .where(feedback.c.conversation_id == conversation_id, feedback.c.user_id == user_id)).mappings()
    return {row["turn_id"]: feedback_record(row) for row in rows}


def select_feedback(conn: Connection, user_id: str | None, rating: Rating | None, limit: int) -> list[FeedbackRecord]:
    """Feedback with its question, newest first."""
    query = (select(feedback, turns.c.question).join(turns, turns.c.id == feedback.c.turn_id)
             .order_by(feedback.c.created_at.desc(), feedback.c.id.desc()).limit(max(1, limit)))
    if user_id is not None:
        query = query.where(feedback.c.user_id == user_id)
    if rating is not None:
        query = query.where(feedback.c.rating == rating)
    return [feedback_record(row) for row in conn.execute(query).mappings()]


def select_retours(conn: Connection, user_id: str | None, limit: int) -> list[RetourItem]:
    """Turns rated 👎 by their owner or answered « non couvert », newest first, each with
    the standalone question it was searched with (a follow-up's context)."""
    opinion = and_(feedback.c.turn_id == turns.c.id, feedback.c.user_id == conversations.c.user_id)
    query = (
        select(turns.c.id, turns.c.conversation_id, turns.c.question, turns.c.standalone_question, turns.c.answer,
               turns.c.sources, turns.c.abstained, turns.c.created_at, conversations.c.user_id, feedback.c.rating,
               feedback.c.reasons, feedback.c.comment)
        .join(conversations, conversations.c.id == turns.c.conversation_id)
        .outerjoin(feedback, opinion)
        .where(or_(feedback.c.rating == "down", turns.c.abstained == true()))
        .order_by(turns.c.created_at.desc(), turns.c.id).limit(max(1, limit))
    )
    if user_id is not None:
        query = query.where(conversations.c.user_id == user_id)
    return [
        RetourItem(
            turn_id=row.id, conversation_id=row.conversation_id, user_id=row.user_id, question=row.question,
            standalone_question=row.standalone_question or "", answer=row.answer, created_at=utc(row.created_at),
            not_covered=bool(row.abstained),
            rating=row.rating, reasons=row.reasons or [], comment=row.comment or "",
            initiatives=cited_initiatives(row.sources),
        )
        for row in conn.execute(query)
    ]


def cited_initiatives(sources: list[dict]) -> list[Initiative]:
    """The initiatives an answer cites, once each, in source order."""
    seen: dict[str, Initiative] = {}
    for source in sources:
        if source.get("cited") and source.get("fiche_id"):
            seen.setdefault(source["fiche_id"], Initiative(fiche_id=source["fiche_id"], title=source.get("title", "")))
    return list(seen.values())
