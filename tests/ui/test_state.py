"""rag.ui.state: the chat's download (``ChatState.markdown``) is the store's export, turn
for turn, whether the turn is fresh from the pipeline or read back from the database."""

from __future__ import annotations

import re
from pathlib import Path

from rag.conversations import LOCAL_USER
from rag.conversations.export import conversation_markdown
from rag.ui.state import ChatState, Turn
from tests.support.conversations import hostile, not_covered, sqlite_store
from tests.support.ui_fixtures import unescaped_markup

STAMP = re.compile(r"exportée le \d{4}-\d\d-\d\d \d\d:\d\d UTC", re.IGNORECASE)


def body(document: str) -> str:
    """The turns, without the header (title, id, date)."""
    return document[document.index("\n## 1. "):]


def test_chat_download_and_store_export_give_the_same_turns(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    answers = [hostile(), not_covered("Et les cartes grises ?")]
    stored = [store.add_turn(conv.id, LOCAL_USER, sent) for sent in answers]
    opinion = store.add_feedback(stored[0].id, LOCAL_USER, "down", ["Hors sujet"], "<b>non</b>")
    fresh = ChatState(conversation_id=conv.id, turns=[Turn(answer=answers[0], feedback=opinion),
                                                      Turn(answer=answers[1])])
    conversation = store.get_conversation(conv.id, LOCAL_USER)
    exported = conversation_markdown(conversation)
    assert body(fresh.markdown()) == body(exported)
    assert "Avis : 👎" in exported and "### Initiatives proches" in exported and not unescaped_markup(
        re.sub(r"\[site de l'initiative\]\(https://[^)]+\)", "", exported))
    # read back as the page does: the title is known, only the export minute may differ
    reopened = ChatState(conversation_id=conv.id, turns=[Turn.from_stored(t) for t in conversation.turns],
                         title=conversation.title)
    assert STAMP.sub("", reopened.markdown()) == STAMP.sub("", exported)
