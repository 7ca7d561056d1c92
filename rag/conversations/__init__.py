"""Conversations and feedback kept in a SQL database (SQLite by default, PostgreSQL when
``RAG_DATABASE_URL`` says so), per user; see :class:`ConversationStore` and
``docs/readme/conversations.md``.

Layer: above ``rag.answer`` (it stores the pipeline's :class:`~rag.types.Answer`),
below ``rag.services``, which owns the process's one store.
"""

from rag.conversations.exchange import Exchange
from rag.conversations.identity import LOCAL_USER, user_id_from_claims
from rag.conversations.models import (
    REASONS,
    Conversation,
    ConversationSummary,
    FeedbackRecord,
    Initiative,
    Rating,
    RetourGroup,
    RetourItem,
    Retours,
    StoredTurn,
    Timings,
)
from rag.conversations.store import ConversationStore

__all__ = [
    "LOCAL_USER", "REASONS", "Conversation", "ConversationStore", "ConversationSummary", "Exchange",
    "FeedbackRecord",
    "Initiative", "Rating", "RetourGroup", "RetourItem", "Retours", "StoredTurn", "Timings", "user_id_from_claims",
]
