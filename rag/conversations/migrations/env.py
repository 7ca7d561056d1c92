"""Alembic environment of the conversations database.

There is no ``alembic.ini`` and no URL here: :func:`rag.conversations.migrate.upgrade`
hands over its connection, already inside a locked write transaction, through
``config.attributes["connection"]``; the migrations run in that transaction.
"""

from __future__ import annotations

from alembic import context

from rag.conversations.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
