"""Connecting to the conversations database, and turning its failures into French messages.

One engine per :class:`~rag.conversations.store.ConversationStore`. SQLite (the default,
``sqlite:///<data dir>/app.db``) runs in WAL mode, so readers never wait for a writer,
with a busy timeout; its write transactions start with ``BEGIN IMMEDIATE`` so two
writers queue up instead of failing on a stale snapshot. PostgreSQL
(``postgresql+psycopg://…``) uses ``pool_pre_ping``: a connection dropped by a restart
is replaced on next use, so the app recovers when the server comes back, no restart.

Every database failure becomes a :class:`~rag.errors.DatabaseError` subclass whose
message names the database (never its password) and what to do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError

from rag.config import Settings
from rag.errors import (
    ConfigError,
    DatabaseCorrupt,
    DatabaseError,
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseUnavailable,
)

WRITE = "rag_write"
"""Execution option marking a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""


class WriteConflict(DatabaseError):
    """A unique constraint refused a row (e.g. two tabs took the same turn position)."""


def default_url(data_dir: Path) -> str:
    """``sqlite:///<data_dir>/app.db``."""
    return f"sqlite:///{Path(data_dir) / 'app.db'}"


def database_url(settings: Settings) -> str:
    """``RAG_DATABASE_URL``, else the SQLite file in the data dir."""
    return settings.database_url or default_url(settings.data_dir)


def parse_url(url: str) -> URL:
    """The URL, with plain ``postgresql://`` given the psycopg 3 driver; a
    :class:`ConfigError` for anything else than SQLite or PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    backend = parsed.get_backend_name() if parsed else ""
    if parsed is None or backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            "RAG_DATABASE_URL invalide : attendu sqlite:///chemin/app.db ou "
            "postgresql+psycopg://utilisateur@hôte:port/base"
        )
    if backend == "postgresql" and parsed.drivername != "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe(url: URL) -> str:
    """Where the database is, for messages: the file, or ``host:port/base`` (no password)."""
    if url.get_backend_name() == "sqlite":
        return f"le fichier {url.database}" if url.database else "la base SQLite en mémoire"
    return f"le serveur PostgreSQL {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def make_engine(url: URL, *, busy_timeout: float = 5.0, connect_timeout: float = 5.0) -> Engine:
    """An engine for ``url`` (see the module doc); no connection is opened yet."""
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": max(1, int(connect_timeout))})
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            _enable_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _enable_wal(cursor: sqlite3.Cursor, busy_timeout: float) -> None:
    """Switch the file to WAL once (the mode persists in the file). Processes opening a
    fresh file together race for it, and SQLite answers that race with an immediate
    « database is locked » that skips the busy handler: retry until ``busy_timeout``."""
    deadline = time.monotonic() + busy_timeout
    delay = 0.01
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def prepare_location(url: URL) -> None:
    """Create the SQLite file's folder (the data dir may not exist yet)."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        try:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseReadOnly(
                f"Impossible de créer le dossier de la base des conversations ({describe(url)} ; {exc.strerror}) : "
                "vérifiez RAG_DATA_DIR ou RAG_DATABASE_URL et les droits du dossier."
            ) from None


@contextmanager
def translated(url: URL) -> Iterator[None]:
    """Run a block; a database failure leaves it as a readable :class:`DatabaseError`."""
    try:
        yield
    except IntegrityError as exc:
        raise WriteConflict(f"Écriture refusée par {describe(url)} (conflit : {_detail(exc)}).") from exc
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise translate(exc, url) from exc


def _detail(exc: BaseException) -> str:
    """The driver's own message, first line only."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def translate(exc: BaseException, url: URL) -> DatabaseError:
    """The :class:`DatabaseError` that says what happened to ``url`` and what to do."""
    detail, where = _detail(exc), describe(url)
    text = detail.lower()
    if url.get_backend_name() == "sqlite":
        if "locked" in text or "busy" in text:
            return DatabaseLocked(
                f"La base des conversations ({where}) est verrouillée par un autre programme depuis "
                "plus que le délai d'attente : réessayez dans un instant, ou fermez l'outil qui la "
                "tient ouverte (éditeur SQLite, sauvegarde en cours)."
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return DatabaseCorrupt(
                f"La base des conversations ({where}) est endommagée ou n'est pas une base SQLite "
                f"({detail}) : déplacez ce fichier (l'application en créera un neuf) ou restaurez une sauvegarde."
            )
        if "readonly" in text or "read-only" in text or "permission" in text:
            return DatabaseReadOnly(
                f"La base des conversations ({where}) est en lecture seule : donnez les droits "
                "d'écriture sur le fichier et sur son dossier (les fichiers -wal et -shm y sont créés)."
            )
        if "unable to open" in text or "disk" in text or "full" in text:
            return DatabaseUnavailable(
                f"Impossible d'ouvrir ou d'écrire la base des conversations ({where}) : {detail}. "
                "Vérifiez que le dossier existe, qu'il est accessible en écriture et que le disque n'est pas plein."
            )
        return DatabaseError(f"Erreur de la base des conversations ({where}) : {detail}.")
    if "read-only" in text or "read only" in text:
        return DatabaseReadOnly(
            f"La base des conversations ({where}) n'accepte pas d'écriture ({detail}) : "
            "RAG_DATABASE_URL doit désigner le serveur principal, pas un réplica."
        )
    if isinstance(exc, OperationalError | InterfaceError) or getattr(exc, "connection_invalidated", False):
        return DatabaseUnavailable(
            f"La base des conversations ({where}) est injoignable ({detail}) : vérifiez que le serveur "
            "tourne et RAG_DATABASE_URL. L'enregistrement reprendra dès son retour, sans redémarrage."
        )
    return DatabaseError(f"Erreur de la base des conversations ({where}) : {detail}.")
