"""The store's Retours: each item carries the standalone question its turn was searched
with, and names it only when it is not the question typed (a follow-up); beyond the
limit, the newest items and a flag saying older ones were left out."""

from __future__ import annotations

from pathlib import Path

from rag.conversations import LOCAL_USER
from tests.support.conversations import answer, not_covered, sqlite_store


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


def test_beyond_the_limit_the_newest_and_a_flag(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conversation = store.create_conversation(LOCAL_USER)
    for i in range(4):
        store.add_turn(conversation.id, LOCAL_USER, not_covered(f"Question {i} ?"))
    cut = store.retours(LOCAL_USER, limit=3)
    assert [i.question for i in cut.items] == ["Question 3 ?", "Question 2 ?", "Question 1 ?"] and cut.more
    whole = store.retours(LOCAL_USER, limit=4)
    assert len(whole.items) == 4 and not whole.more
    store.close()
