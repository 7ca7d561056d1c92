"""The store's Retours: each item carries the standalone question its turn was searched
with, and names it only when it is not the question typed (a follow-up)."""

from __future__ import annotations

from pathlib import Path

from rag.conversations import LOCAL_USER
from tests.support.conversations import answer, sqlite_store


def test_a_follow_up_carries_its_standalone_question(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conversation = store.create_conversation(LOCAL_USER)
    first = answer("Que fait Brest pour l'accueil ?").model_copy(
        update={"standalone_question": "que fait  BREST pour l'accueil ?"})  # same words
    follow_up = answer("et à Nantes ?").model_copy(
        update={"standalone_question": "Que fait Nantes pour l'accueil ?"})
    for sent in (first, follow_up):
        turn = store.add_turn(conversation.id, LOCAL_USER, sent)
        store.add_feedback(turn.id, LOCAL_USER, "down", ["Incomplet"])
    items = store.retours(LOCAL_USER).items
    assert [(i.question, i.standalone_question, i.rewritten) for i in items] == [
        ("et à Nantes ?", "Que fait Nantes pour l'accueil ?", "Que fait Nantes pour l'accueil ?"),
        ("Que fait Brest pour l'accueil ?", "que fait  BREST pour l'accueil ?", None),
    ]
    store.close()
