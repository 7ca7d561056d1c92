"""The schema's version: Alembic migrations shipped in ``migrations/``, run at start.

No ``alembic.ini``: the :class:`~alembic.config.Config` is built here. :func:`upgrade`
runs inside the caller's write transaction, after taking a lock (SQLite's
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so several processes starting at
once migrate the database once. A database already migrated past the revisions this
version knows (written by a newer version of the app) is refused with a clear message
rather than used half-understood.

To write a new migration: add a file in ``migrations/versions/`` (``script.py.mako``
is its template) whose ``down_revision`` is the current head, then update
:mod:`rag.conversations.schema` to match (a test compares the two).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rag.errors import DatabaseSchemaTooNew

SCRIPT_DIR = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 7_310_410_001  # pg_advisory_xact_lock key of the migration (any fixed bigint)


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, in code; ``connection`` is handed to ``migrations/env.py``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this version of the app knows."""
    revision = _script().get_current_head()
    assert revision is not None, "no migration in rag/conversations/migrations/versions"
    return revision


def known_revisions() -> set[str]:
    """Every revision shipped with this version."""
    return {script.revision for script in _script().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """The database's revision (``None``: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()


def check_known(revision: str | None, where: str) -> None:
    """Refuse a database migrated by a newer version of the app."""
    if revision is not None and revision not in known_revisions():
        raise DatabaseSchemaTooNew(
            f"La base des conversations ({where}) a été mise à jour par une version plus récente de "
            f"l'application (schéma « {revision} », cette version connaît jusqu'à « {head()} ») : "
            "mettez l'application à jour, ou indiquez une autre base avec RAG_DATABASE_URL."
        )


def upgrade(connection: Connection, where: str) -> bool:
    """Bring the schema to :func:`head` inside ``connection``'s write transaction; True if
    a migration ran. Raises :class:`DatabaseSchemaTooNew` for a newer database."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    revision = current_revision(connection)
    check_known(revision, where)
    if revision == head():
        return False
    command.upgrade(alembic_config(connection), "head")
    return True
