"""Database faults, each a clear French DatabaseError the caller can catch to go on
answering without saving: a locked, corrupt or read-only SQLite file, a database from a
newer version of the app, PostgreSQL stopped then started again (recovery, no restart)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from rag.conversations import ConversationStore
from rag.errors import (
    DatabaseCorrupt,
    DatabaseError,
    DatabaseLocked,
    DatabaseReadOnly,
    DatabaseSchemaTooNew,
    DatabaseUnavailable,
)
from tests.servers.postgres import server_for
from tests.support.conversations import answer, sqlite_store

USER = "local"

HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("verrou pris", flush=True)
sys.stdin.read()
"""


def test_locked_file_fails_writes_quickly_reads_go_on_then_recovers(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, busy_timeout=0.2)
    conv = store.create_conversation(USER)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "app.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "verrou pris"
        with pytest.raises(DatabaseLocked, match="verrouillée par un autre programme") as caught:
            store.add_turn(conv.id, USER, answer("Q pendant le verrou"))
        assert str(tmp_path / "app.db") in str(caught.value)
        assert [c.id for c in store.list_conversations(USER)] == [conv.id]  # WAL: readers are not blocked
    finally:
        holder.communicate("", timeout=30)
    store.add_turn(conv.id, USER, answer("Q après le verrou"))
    assert store.history(conv.id, USER) == [("Q après le verrou", "Réponse [1].")]


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "app.db").write_bytes(b"ceci n'est pas une base SQLite\n" * 200)
    store = sqlite_store(tmp_path)
    with pytest.raises(DatabaseCorrupt, match="endommagée ou n'est pas une base SQLite") as caught:
        store.list_conversations(USER)
    assert "déplacez ce fichier" in str(caught.value) and str(tmp_path / "app.db") in str(caught.value)
    with pytest.raises(DatabaseCorrupt):
        store.create_conversation(USER)  # every call says so, none hangs or half-works
    (tmp_path / "app.db").rename(tmp_path / "app.db.corrompu")  # what the message asks
    assert store.create_conversation(USER).turn_count == 0  # same store, a new file, no restart


def test_damaged_pages(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(USER)
    for n in range(40):
        store.add_turn(conv.id, USER, answer(f"Question {n} " + "longue " * 200))
    store.close()
    path = tmp_path / "app.db"
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[2 * 4096:] = bytes(range(256)) * ((len(data) - 2 * 4096) // 256)  # keep the header and schema page
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorrupt, match="endommagée"):
        sqlite_store(tmp_path).get_conversation(conv.id, USER)


def _as_unprivileged(calls: dict[str, Callable[[], object]]) -> dict[str, list[str]]:
    """Run ``calls`` in a forked child that cannot write where root could (uid nobody);
    each result is ``[error class or "ok", message]``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgid(65534)
            os.setuid(65534)
            results = {}
            for name, call in calls.items():
                try:
                    call()
                    results[name] = ["ok", ""]
                except DatabaseError as exc:
                    results[name] = [type(exc).__name__, str(exc)]
                except Exception as exc:  # noqa: BLE001 - reported to the parent
                    results[name] = [f"unexpected {type(exc).__name__}", str(exc)]
            os.write(write, json.dumps(results).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return json.loads(pipe.read())


def test_read_only_file() -> None:
    folder = Path(tempfile.mkdtemp(prefix="rag-ro-"))  # under /tmp: reachable by the unprivileged child
    try:
        store = sqlite_store(folder)
        conv = store.create_conversation(USER)
        store.add_turn(conv.id, USER, answer("Q"))
        store.close()
        os.chmod(folder / "app.db", 0o444)
        os.chmod(folder, 0o555)
        reader = sqlite_store(folder)
        calls: dict[str, Callable[[], object]] = {
            "create": lambda: reader.create_conversation(USER),
            "add_turn": lambda: reader.add_turn(conv.id, USER, answer("Q2")),
        }
        results = _as_unprivileged(calls) if os.geteuid() == 0 else _run(calls)
        os.chmod(folder, 0o755)
        for name in calls:
            kind, message = results[name]
            assert kind == DatabaseReadOnly.__name__, (name, kind, message)
            assert "lecture seule" in message and str(folder / "app.db") in message
        assert sqlite_store(folder).history(conv.id, USER) == [("Q", "Réponse [1].")]  # nothing lost
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


def _run(calls: dict[str, Callable[[], object]]) -> dict[str, list[str]]:
    results = {}
    for name, call in calls.items():
        try:
            call()
            results[name] = ["ok", ""]
        except DatabaseError as exc:
            results[name] = [type(exc).__name__, str(exc)]
    return results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_from_a_newer_version_is_refused(backend: str, tmp_path: Path,
                                                  request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_database")
    ConversationStore(url).create_conversation(USER)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042_futur'"))
    engine.dispose()
    with pytest.raises(DatabaseSchemaTooNew, match="version plus récente") as caught:
        ConversationStore(url).list_conversations(USER)
    assert "0042_futur" in str(caught.value) and "RAG_DATABASE_URL" in str(caught.value)


def test_postgres_stopped_then_back_without_restart(postgres_url: str, postgres_database: str) -> None:
    store = ConversationStore(postgres_database)
    conv = store.create_conversation(USER)
    store.add_turn(conv.id, USER, answer("Avant l'arrêt"))
    server = server_for(postgres_url)
    server.stop()
    try:
        with pytest.raises(DatabaseUnavailable, match="injoignable") as caught:
            store.add_turn(conv.id, USER, answer("Pendant l'arrêt"))
        assert f"127.0.0.1:{server.port}" in str(caught.value) and "sans redémarrage" in str(caught.value)
        with pytest.raises(DatabaseUnavailable):
            store.list_conversations(USER)
        late = ConversationStore(postgres_database)  # a store created while the server is down
        with pytest.raises(DatabaseUnavailable):
            late.list_conversations(USER)
    finally:
        server.start()
    store.add_turn(conv.id, USER, answer("Après le retour"))  # the same store, the same process
    assert [q for q, _ in store.history(conv.id, USER)] == ["Avant l'arrêt", "Après le retour"]
    assert [c.id for c in late.list_conversations(USER)] == [conv.id]


def test_bad_url_is_a_config_error() -> None:
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="RAG_DATABASE_URL invalide"):
        ConversationStore("mysql://root@localhost/app")
    with pytest.raises(ConfigError):
        ConversationStore("pas une url")
