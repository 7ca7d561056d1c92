"""The Retours page (found by exploratory QA, AppTest on a real SQLite database): 300
retours drew 1,100 items (one per group an item is in) and took 16 s to load, each group
now shows its newest items and a button for the others; the eval set is the setting
``RAG_FEEDBACK_EVAL_PATH``, and a folder that cannot be written is said in French with
the line to add by hand; a follow-up shows, and adds, its standalone question; beyond
the store's limit the page says it lists the newest retours only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.config import load_settings
from rag.conversations import LOCAL_USER, ConversationStore
from rag.conversations.store import RETOURS_LIMIT
from rag.ui.retours import SHOWN_PER_GROUP
from tests.support.conversations import answer, not_covered
from tests.support.read_only import read_only_folder, unprivileged
from tests.support.ui_fixtures import ROOT, unescape, use_env

BREST = "accueil-en-mairie-de-brest"
RETOURS = "pages/2_Retours.py"
MANY = SHOWN_PER_GROUP + 7


@pytest.fixture
def retours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Env for the app (:func:`use_env`) with a fresh conversations database and
    an eval set of the test's own."""
    use_env(monkeypatch, tmp_path)
    monkeypatch.setenv("RAG_FEEDBACK_EVAL_PATH", str(tmp_path / "eval" / "feedback.jsonl"))
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


def test_a_big_group_shows_its_newest_items_then_the_others_on_request(retours_env: Path) -> None:
    rated_down(retours_env, MANY)
    at = AppTest.from_file(str(ROOT / RETOURS), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"{MANY} réponse(s) jugée(s) pas utile(s)" in at.markdown[0].value
    assert not at.info  # all of them are listed
    assert items(at, f"i_{BREST}") == items(at, "r_Incomplet") == SHOWN_PER_GROUP
    newest = [s.key for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_")]
    more = at.button(key=f"more_i_{BREST}")
    assert more.label == f"Afficher les {MANY - SHOWN_PER_GROUP} autres"
    more.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert items(at, f"i_{BREST}") == MANY and items(at, "r_Incomplet") == SHOWN_PER_GROUP
    assert [s.key for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_")][:SHOWN_PER_GROUP] == newest
    assert not [b for b in at.button if b.key == f"more_i_{BREST}"]


def _project_eval_set() -> str | None:
    path = ROOT / "eval" / "feedback.jsonl"
    return path.read_text(encoding="utf-8") if path.exists() else None


def test_the_eval_set_is_the_setting_and_a_read_only_folder_loses_nothing(
        retours_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rated_down(retours_env, 1)
    in_project = _project_eval_set()
    with read_only_folder() as folder:
        monkeypatch.setenv("RAG_FEEDBACK_EVAL_PATH", str(folder / "feedback.jsonl"))
        at = AppTest.from_file(str(ROOT / RETOURS), default_timeout=120)
        at.run()
        key = next(s.key for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_"))[len("expected_"):]
        with unprivileged():
            at.button(key=f"eval_{key}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        shown = [unescape(e.value) for e in at.error]
        assert shown and "Non ajoutée : impossible d'écrire" in shown[0] and "permission refusée" in shown[0]
        assert "RAG_FEEDBACK_EVAL_PATH" in shown[0] and str(folder / "feedback.jsonl") in shown[0]
        line = json.loads(at.code[0].value)  # the line to add by hand
        assert line["gold"] == [BREST] and line["kind"] == "feedback" and line["q"].startswith("Question 0")
        assert not (folder / "feedback.jsonl").exists()

    writable = retours_env / "ailleurs" / "retours.jsonl"
    monkeypatch.setenv("RAG_FEEDBACK_EVAL_PATH", str(writable))
    at.run()
    at.button(key=f"eval_{key}").click().run()
    assert not at.exception and not at.error and not at.code
    assert "Question ajoutée au jeu d'évaluation (retours.jsonl)." in [unescape(c.value) for c in at.caption]
    assert [json.loads(x) for x in writable.read_text(encoding="utf-8").splitlines()] == [line]
    assert _project_eval_set() == in_project  # the project's eval/ untouched


def test_a_follow_up_shows_and_adds_its_standalone_question(retours_env: Path) -> None:
    store = ConversationStore.from_settings(load_settings(data_dir=retours_env))
    conversation = store.create_conversation(LOCAL_USER)
    standalone = "Que fait Brest pour l'accueil des usagers à Nantes ?"
    for typed, searched in (("Que fait Brest ?", "que fait  Brest ?"), ("et à Nantes ?", standalone)):
        sent = answer(typed, cited=(BREST,), others=()).model_copy(update={"standalone_question": searched})
        store.add_feedback(store.add_turn(conversation.id, LOCAL_USER, sent).id, LOCAL_USER, "down", ["Incomplet"])
    store.close()
    at = AppTest.from_file(str(ROOT / RETOURS), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [unescape(m.value) for m in at.markdown]
    assert shown.count(f"Question autonome (recherchée, et ajoutée au jeu d'évaluation) : « {standalone} »") == 2
    assert not [m for m in shown if "Question autonome" in m and "que fait  Brest" in m]  # same words: not shown
    for key in [s.key[len("expected_"):] for s in at.selectbox if s.key.startswith(f"expected_i_{BREST}_")]:
        at.button(key=f"eval_{key}").click().run()
    lines = [json.loads(x) for x in (retours_env / "eval" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(lines, key=len) == [
        {"q": "Que fait Brest ?", "gold": [BREST], "kind": "feedback"},
        {"q": standalone, "gold": [BREST], "kind": "feedback", "typed": "et à Nantes ?"},
    ]


def test_beyond_the_limit_the_page_says_it_lists_the_newest_only(retours_env: Path) -> None:
    store = ConversationStore.from_settings(load_settings(data_dir=retours_env))
    conversation = store.create_conversation(LOCAL_USER)
    for i in range(RETOURS_LIMIT + 1):
        store.add_turn(conversation.id, LOCAL_USER, not_covered(f"Question {i} hors catalogue ?"))
    store.close()
    at = AppTest.from_file(str(ROOT / RETOURS), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"0 réponse(s) jugée(s) pas utile(s) et {RETOURS_LIMIT} question(s) « non couvert »" in at.markdown[0].value
    assert [i.value for i in at.info] == [f"Seuls les {RETOURS_LIMIT} retours les plus récents sont affichés : les "
                                          "comptes ci-dessus et les groupes ci-dessous ne portent que sur eux."]
    assert at.button(key="more_r_Non couvert").label == f"Afficher les {RETOURS_LIMIT - SHOWN_PER_GROUP} autres"
