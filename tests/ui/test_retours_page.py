"""The Retours page with many rows (found by exploratory QA, AppTest on a real SQLite
database): 300 retours drew 1,100 items (one per group an item is in) and took 16 s to
load; each group now shows its newest items and a button for the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.config import load_settings
from rag.conversations import LOCAL_USER, ConversationStore
from rag.ui.retours import SHOWN_PER_GROUP
from tests.support.conversations import answer
from tests.support.ui_fixtures import ROOT

BREST = "accueil-en-mairie-de-brest"
RETOURS = "pages/2_Retours.py"
MANY = SHOWN_PER_GROUP + 7


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Env for the app: bundled corpus, hashing embedder, a fresh conversations database."""
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    monkeypatch.setenv("RAG_BACKEND", "extractive")
    monkeypatch.delenv("RAG_CORPUS_DIR", raising=False)
    monkeypatch.delenv("RAG_DATABASE_URL", raising=False)
    return tmp_path


def rated_down(data_dir: Path, count: int) -> None:
    """``count`` answers citing Brest, each rated 👎 « Incomplet »."""
    store = ConversationStore.from_settings(load_settings(data_dir=data_dir))
    conversation = store.create_conversation(LOCAL_USER)
    for i in range(count):
        turn = store.add_turn(conversation.id, LOCAL_USER, answer(f"Question {i} sur Brest ?", cited=(BREST,),
                                                                  others=()))
        store.add_feedback(turn.id, LOCAL_USER, "down", ["Incomplet"], f"commentaire {i}")
    store.close()


def items(at: AppTest, group: str) -> int:
    return sum(s.key.startswith(f"expected_{group}_") for s in at.selectbox)


def test_a_big_group_shows_its_newest_items_then_the_others_on_request(app_env: Path) -> None:
    rated_down(app_env, MANY)
    at = AppTest.from_file(str(ROOT / RETOURS), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"{MANY} réponse(s) jugée(s) pas utile(s)" in at.markdown[0].value
    assert items(at, f"i_{BREST}") == items(at, "r_Incomplet") == SHOWN_PER_GROUP
    newest = [s.key for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_")]
    more = at.button(key=f"more_i_{BREST}")
    assert more.label == f"Afficher les {MANY - SHOWN_PER_GROUP} autres"
    more.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert items(at, f"i_{BREST}") == MANY and items(at, "r_Incomplet") == SHOWN_PER_GROUP
    assert [s.key for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_")][:SHOWN_PER_GROUP] == newest
    assert not [b for b in at.button if b.key == f"more_i_{BREST}"]
