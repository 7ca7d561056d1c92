""":class:`rag.conversations.Exchange`, the one way every front end stores a turn: a real
pipeline run (bundled catalogue, hashing embedder, extractive engine) saved into a
SQLite store, the conversation created on the first turn, timed, with the inferred
filters; database faults are raised for the front end to handle."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.answer.pipeline import ask
from rag.config import load_settings
from rag.conversations import ConversationStore, Timings
from rag.errors import ConversationNotFound
from rag.services import Services
from tests.support.conversations import answer, sqlite_store

NANTES = "Quelles initiatives d'accueil à Nantes ?"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    services = Services(load_settings(data_dir=tmp_path_factory.mktemp("exchange"), embedder="hashing"))
    services.ensure_index()
    return services


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    return sqlite_store(tmp_path)


def test_a_new_exchange_creates_the_conversation_with_the_timed_turn(services, store) -> None:
    exchange = store.exchange("alice")
    assert exchange.id is None
    run = ask(NANTES, services)
    pieces = list(exchange.timed(run.stream()))
    assert pieces and exchange.first_token is not None
    turn = exchange.save(run, {})
    assert exchange.id == turn.conversation_id and turn.position == 0
    assert turn.question == NANTES and turn.model is None  # extractive: no LLM model
    assert turn.inferred_filters and "Nantes" in turn.inferred_filters.values()  # deduced from the question
    assert 0 <= turn.timings.first_token_ms <= turn.timings.total_ms
    listed = store.list_conversations("alice")
    assert [(c.id, c.title, c.turn_count) for c in listed] == [(exchange.id, NANTES, 1)]


def test_chosen_filters_are_not_inferred_and_a_known_id_is_continued(services, store) -> None:
    first = store.exchange("alice")
    first.save(ask(NANTES, services), {})
    run = ask(NANTES, services, filters={"commune": "Nantes"})
    turn = store.exchange("alice", first.id).save(run, {"commune": "Nantes"})
    assert turn.conversation_id == first.id and turn.position == 1
    assert "commune" not in turn.inferred_filters
    assert [t.question for t in store.get_conversation(first.id, "alice").turns] == [NANTES, NANTES]


def test_timings_count_from_start_and_no_first_token_counts_as_the_end(services, store) -> None:
    run = ask(NANTES, services)
    list(run.stream())
    exchange = store.exchange("alice")
    time.sleep(0.3)  # the set-up before the question (indexing…) is not counted
    exchange.start()
    turn = exchange.save(run, {})
    assert turn.timings.first_token_ms == turn.timings.total_ms < 300


def test_another_users_conversation_is_not_found_and_nothing_is_stored(store) -> None:
    owned = store.create_conversation("alice")
    with pytest.raises(ConversationNotFound):
        store.exchange("bob", owned.id).add(answer("Borne ?"), Timings(), None, {})
    assert store.get_conversation(owned.id, "alice").turns == []
    assert store.list_conversations("bob") == []
