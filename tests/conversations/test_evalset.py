"""« Ajouter au jeu d'évaluation »: one line in the eval format, read back by the eval
loader, never torn or glued to another line, never added twice."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from rag.config import ROOT, load_settings
from rag.conversations import ConversationStore
from rag.errors import ConfigError, InputError
from rag.search.evaluation import load_questions
from tests.support.read_only import read_only_folder, unprivileged

BREST = "accueil-en-mairie-de-brest"


def test_line_in_eval_format_read_by_the_eval_loader(tmp_path: Path) -> None:
    path = tmp_path / "eval" / "feedback.jsonl"
    assert ConversationStore.append_to_eval_set("  Que fait  Brest pour l'accueil ? ", [BREST, BREST], path)
    assert ConversationStore.append_to_eval_set("Des cartes grises à Lille ?", [], path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {"q": "Que fait Brest pour l'accueil ?", "gold": [BREST], "kind": "feedback"}
    questions = load_questions(path)
    assert [(q.q, q.gold, q.kind) for q in questions] == [("Que fait Brest pour l'accueil ?", [BREST], "feedback"),
                                                          ("Des cartes grises à Lille ?", [], "feedback")]


def test_not_added_twice_and_never_glued_to_a_previous_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text('{"q": "écrite à la main", "gold": [], "kind": "feedback"}', encoding="utf-8")  # no final \n
    assert ConversationStore.append_to_eval_set("Que fait Brest ?", [BREST], path)
    assert not ConversationStore.append_to_eval_set("QUE FAIT BREST ?", [BREST], path)  # same entry
    assert ConversationStore.append_to_eval_set("Que fait Brest ?", [], path)  # another expectation
    assert [q.q for q in load_questions(path)] == ["écrite à la main", "Que fait Brest ?", "Que fait Brest ?"]


@pytest.mark.parametrize("question, ids, message", [
    ("   ", [BREST], "vide"),
    ("Q ?", ["pas un id"], "identifiant de fiche invalide"),
    ("Q ?", ["../../etc"], "identifiant de fiche invalide"),
])
def test_bad_entries_are_refused(tmp_path: Path, question: str, ids: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ConversationStore.append_to_eval_set(question, ids, tmp_path / "feedback.jsonl")
    assert not (tmp_path / "feedback.jsonl").exists()


def test_concurrent_appends_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"

    def write(worker: int) -> None:
        for i in range(25):
            ConversationStore.append_to_eval_set(f"question {worker}-{i} " + "é" * 3000, [BREST], path)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(load_questions(path)) == 100  # json.loads of every line: a torn line would fail


def test_the_eval_set_path_is_a_setting_defaulting_to_the_project_eval_folder(monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    monkeypatch.delenv("RAG_FEEDBACK_EVAL_PATH", raising=False)
    assert load_settings().feedback_eval_path == ROOT / "eval" / "feedback.jsonl"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAG_FEEDBACK_EVAL_PATH", "retours/eval.jsonl")
    assert load_settings().feedback_eval_path == tmp_path / "retours" / "eval.jsonl"  # absolute


def test_a_read_only_folder_gives_a_french_error_naming_the_setting() -> None:
    with read_only_folder() as folder, unprivileged(), pytest.raises(ConfigError) as raised:
        ConversationStore.append_to_eval_set("Que fait Brest ?", [BREST], folder / "feedback.jsonl")
    message = str(raised.value)
    assert "permission refusée" in message and str(folder / "feedback.jsonl") in message
    assert "RAG_FEEDBACK_EVAL_PATH" in message


def test_a_read_only_file_is_left_as_it_was() -> None:
    before = '{"q": "écrite à la main", "gold": [], "kind": "feedback"}\n'
    with read_only_folder({"feedback.jsonl": before}) as folder:
        path = folder / "feedback.jsonl"
        with unprivileged(), pytest.raises(ConfigError, match="permission refusée"):
            ConversationStore.append_to_eval_set("Que fait Brest ?", [BREST], path)
        assert path.read_text(encoding="utf-8") == before


def test_a_follow_up_is_added_standalone_with_the_words_typed_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    standalone = "Que fait Nantes pour l'accueil en mairie ?"
    assert ConversationStore.append_to_eval_set(standalone, [BREST], path, typed="  et à   Nantes ?")
    assert not ConversationStore.append_to_eval_set(standalone, [BREST], path, typed="et à Nantes ?")
    assert json.loads(path.read_text(encoding="utf-8")) == {"q": standalone, "gold": [BREST], "kind": "feedback",
                                                            "typed": "et à Nantes ?"}
    assert [(q.q, q.gold, q.kind) for q in load_questions(path)] == [(standalone, [BREST], "feedback")]
