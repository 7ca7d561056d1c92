"""The tables of the conversations database, as SQLAlchemy Core objects.

This is what the queries use; the migrations in ``migrations/versions/`` create the same
tables (a test compares the migrated database with this metadata, on SQLite and
PostgreSQL). Timestamps are UTC. JSON columns hold plain lists and dicts.

The indexes follow the queries: a user's conversations newest first
(``user_id, updated_at``), a conversation's turns in order (the unique
``conversation_id, position``, which also stops two tabs from interleaving turns), a
user's feedback newest first, the « non couvert » answers of the Retours page.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

ID_LENGTH = 32
USER_LENGTH = 255

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

conversations = Table(
    "conversations", metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("user_id", String(USER_LENGTH), nullable=False),
    Column("title", Text, nullable=False),  # "" until the first question names it
    Column("search_text", Text, nullable=False),  # folded title and questions, for search
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(None, "user_id", "updated_at"),
)

turns = Table(
    "turns", metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("conversation_id", String(ID_LENGTH), ForeignKey("conversations.id", ondelete="CASCADE"),
           nullable=False),
    Column("position", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("standalone_question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("sources", JSON, nullable=False),  # Source dicts, in display order
    Column("cited", JSON, nullable=False),  # numbers of the cited sources, in citation order
    Column("backend", String(100), nullable=False),
    Column("model", String(200), nullable=True),
    Column("filters", JSON, nullable=False),  # applied to retrieval
    Column("inferred_filters", JSON, nullable=False),  # deduced from the question (the UI's chips)
    Column("abstained", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("evidence", Text, nullable=False),
    Column("notices", JSON, nullable=False),
    Column("timings", JSON, nullable=False),  # {"first_token_ms": …, "total_ms": …}
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("conversation_id", "position"),
    Index(None, "abstained", "created_at"),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("turn_id", String(ID_LENGTH), ForeignKey("turns.id", ondelete="CASCADE"), nullable=False),
    Column("conversation_id", String(ID_LENGTH), ForeignKey("conversations.id", ondelete="CASCADE"),
           nullable=False),
    Column("user_id", String(USER_LENGTH), nullable=False),
    Column("rating", String(4), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("rating IN ('up', 'down')", name="rating"),
    UniqueConstraint("turn_id", "user_id"),  # one opinion per user and answer (the last one)
    Index(None, "user_id", "created_at"),
    Index(None, "conversation_id"),
)

meta = Table(
    "meta", metadata,  # one-off facts about this database, e.g. the legacy feedback import
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
