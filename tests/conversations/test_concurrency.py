"""Two tabs (threads) or two app processes writing to one conversation: every turn is
kept, positions are 0..n-1 without a gap or a duplicate, and each writer's turns keep
their order. On SQLite and on a real PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.conversations import ConversationStore
from rag.conversations.legacy import LEGACY_KEY
from tests.support.conversations import add_turns, open_with_legacy

WRITERS, TURNS = 3, 25
WORKER = object()
"""Placeholder argument of :func:`_in_processes`: the process's number."""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("postgres_database")


def _check(store: ConversationStore, conversation_id: str) -> None:
    turns = store.get_conversation(conversation_id, "local").turns
    assert [t.position for t in turns] == list(range(WRITERS * TURNS))
    questions = [t.question for t in turns]
    assert sorted(questions) == sorted(f"w{w}-{i}" for w in range(WRITERS) for i in range(TURNS))
    for worker in range(WRITERS):
        mine = [q for q in questions if q.startswith(f"w{worker}-")]
        assert mine == [f"w{worker}-{i}" for i in range(TURNS)]


def _in_processes(target: Callable[..., None], *args: object) -> list[int | None]:
    """Run ``target(*args, barrier)`` in :data:`WRITERS` spawned processes released
    together by the barrier (``args`` may hold ``WORKER``, replaced by the process's
    number); their exit codes."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WRITERS)
    workers = [context.Process(target=target, args=(*(w if a is WORKER else a for a in args), start))
               for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    return [worker.exitcode for worker in workers]


def test_threads_sharing_one_store(url: str) -> None:
    store = ConversationStore(url)
    conv = store.create_conversation("local")
    start = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=add_turns, args=(url, conv.id, w, TURNS, start)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    _check(store, conv.id)


def test_processes_each_with_its_store(url: str) -> None:
    store = ConversationStore(url)
    conv = store.create_conversation("local")
    assert _in_processes(add_turns, url, conv.id, WORKER, TURNS) == [0] * WRITERS
    _check(store, conv.id)


def test_processes_starting_together_migrate_and_import_once(url: str, tmp_path: Path) -> None:
    legacy = tmp_path / "feedback.jsonl"
    legacy.write_text("".join(
        f'{{"turn_id": "t{n}", "rating": "down", "comment": "", "question": "Question {n}", "answer": "R"}}\n'
        for n in range(5)), encoding="utf-8")
    assert _in_processes(open_with_legacy, url, str(legacy)) == [0] * WRITERS
    store = ConversationStore(url)
    assert sorted(c.title for c in store.list_conversations("local")) == [f"Question {n}" for n in range(5)]
    assert len(store.list_feedback("local")) == 5
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM meta WHERE key = '{LEGACY_KEY}'").scalar_one() == 1


def test_processes_opening_a_fresh_sqlite_file_together_all_start(tmp_path: Path) -> None:
    """The switch to WAL mode races when processes open a new file at once; SQLite
    answers the loser « database is locked » without waiting: every process must start.
    The race is lost about once in eight rounds, so the test runs several."""
    legacy = tmp_path / "feedback.jsonl"
    legacy.write_text("", encoding="utf-8")
    for round_ in range(8):
        url = f"sqlite:///{tmp_path / f'app{round_}.db'}"
        assert _in_processes(open_with_legacy, url, str(legacy)) == [0] * WRITERS, f"round {round_}"
