"""The old ``feedback.jsonl`` (written by the first chat's rag.ui.feedback) is imported once into the
database, then left alone: never imported twice, never modified."""

from __future__ import annotations

import json
from pathlib import Path

from rag.config import load_settings
from rag.conversations import LOCAL_USER, ConversationStore
from rag.conversations.legacy import LEGACY_KEY
from rag.services import Services


def append_feedback(data_dir: Path, record: dict) -> None:
    """One line as the first chat appended it (that writer is gone: feedback is in the database)."""
    with (data_dir / "feedback.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({**record, "timestamp": "2025-03-01T10:00:00+00:00"}, ensure_ascii=False) + "\n")


def _old_record(question: str, rating: str, comment: str = "") -> dict:
    """A line as the first chat wrote it (rag.ui.chat._feedback_record)."""
    brief = {"n": 1, "fiche_id": "accueil-en-mairie-de-brest", "title": "Accueil en Mairie de brest",
             "section": "Contexte"}
    return {"turn_id": "a1b2c3d4e5f6", "rating": rating, "comment": comment, "question": question,
            "answer": "À Brest, la mairie a repensé son accueil [1].", "backend": "extractive",
            "filters": {"ville": "Brest"}, "abstained": False, "error": None, "cited": [brief],
            "sources": [brief, {**brief, "n": 2, "fiche_id": "autre", "title": "Autre"}]}


def _write_legacy(data_dir: Path) -> Path:
    append_feedback(data_dir, _old_record("Que fait Brest pour l'accueil ?", "down", "incomplet"))
    append_feedback(data_dir, _old_record("Et Quimper ?", "up"))
    path = data_dir / "feedback.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("{pas du json\n")
        handle.write(json.dumps({"rating": "bof", "question": "sans avis valable"}) + "\n")
    return path


def test_imported_once_then_left_alone(data_dir: Path) -> None:
    path = _write_legacy(data_dir)
    before = path.read_bytes()
    services = Services(load_settings(data_dir=data_dir))
    store = services.conversations
    assert store.url.database == str(data_dir / "app.db")
    feedback = store.list_feedback(LOCAL_USER)
    assert sorted((f.question, f.rating, f.comment) for f in feedback) == [
        ("Et Quimper ?", "up", ""), ("Que fait Brest pour l'accueil ?", "down", "incomplet")]
    down = next(f for f in feedback if f.rating == "down")
    turn = store.get_conversation(down.conversation_id, LOCAL_USER).turns[0]
    assert turn.answer.startswith("À Brest") and turn.filters == {"ville": "Brest"} and turn.cited_numbers == [1]
    assert [(s.n, s.fiche_id, s.cited) for s in turn.sources] == [(1, "accueil-en-mairie-de-brest", True),
                                                                  (2, "autre", False)]
    assert turn.created_at.year >= 2024 and turn.feedback is not None and turn.feedback.rating == "down"
    assert [i.question for i in store.retours(LOCAL_USER).items] == ["Que fait Brest pour l'accueil ?"]
    with store.engine.connect() as conn:
        summary = json.loads(conn.exec_driver_sql(f"SELECT value FROM meta WHERE key = '{LEGACY_KEY}'").scalar_one())
    assert summary["imported"] == 2 and summary["skipped"] == 2
    assert path.read_bytes() == before  # left untouched

    append_feedback(data_dir, _old_record("Écrit après l'import", "down"))  # an old app still running
    again = ConversationStore.from_settings(load_settings(data_dir=data_dir))  # the next start
    assert len(again.list_feedback(LOCAL_USER)) == 2
    assert len(again.list_conversations(LOCAL_USER)) == 2


def test_no_file_then_a_file_appears(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir)
    assert ConversationStore.from_settings(settings).list_feedback(LOCAL_USER) == []
    _write_legacy(data_dir)  # e.g. the data dir of an old install copied in afterwards
    assert len(ConversationStore.from_settings(settings).list_feedback(LOCAL_USER)) == 2


def test_database_url_setting_wins_over_the_data_dir(data_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "ailleurs" / "conversations.db"
    store = Services(load_settings(data_dir=data_dir, database_url=f"sqlite:///{elsewhere}")).conversations
    store.create_conversation(LOCAL_USER)
    assert elsewhere.is_file() and not (data_dir / "app.db").exists()
    assert "conversations.db" not in repr(load_settings(database_url=f"sqlite:///{elsewhere}"))
