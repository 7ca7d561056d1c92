"""``python -m rag conversations …``, ``feedback list`` and ``ask --conversation`` as a user
runs them: real subprocesses on the bundled catalogue (hashing embedder), a SQLite
database per test, stdout/stderr and exit codes checked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.conversations import LOCAL_USER
from tests.support.conversations import HOSTILE_ANSWER, answer, hostile, sqlite_store
from tests.support.ui_fixtures import unescape, unescaped_markup

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir (index built by the first ``ask``) shared by the module's tests."""
    return tmp_path_factory.mktemp("cli-data")


@pytest.fixture
def rag(index_dir: Path, tmp_path: Path):  # noqa: ANN201 - returns the runner
    env = {**os.environ, "RAG_DATA_DIR": str(index_dir), "RAG_EMBEDDER": "hashing",
           "RAG_DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}"}
    for name in ("RAG_DEBUG", "RAG_BACKEND", "RAG_CHROMA_URL"):
        env.pop(name, None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=300)

    return run


def test_ask_new_then_follow_up_then_list_show_export(rag, tmp_path: Path) -> None:
    first = rag("ask", "Quelles initiatives pour l'accueil des étrangers ?", "--conversation", "new", "--json")
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    conversation = one["conversation_id"]
    assert conversation and one["turn_id"] and one["answer"]
    follow = rag("ask", "et à Brest ?", "--conversation", conversation, "--json")
    assert follow.returncode == 0, follow.stderr
    two = json.loads(follow.stdout)
    assert two["conversation_id"] == conversation and two["turn_id"] != one["turn_id"]
    assert two["question"] == "et à Brest ?" and "accueil" in two["standalone_question"].lower()  # from history

    listed = rag("conversations", "list", "--json")
    assert listed.returncode == 0 and listed.stderr == ""
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["title"], r["turns"]) for r in rows] == [
        (conversation, "Quelles initiatives pour l'accueil des étrangers ?", 2)]
    assert rows[0]["updated_at"].startswith("20")

    shown = json.loads(rag("conversations", "show", conversation, "--json").stdout)
    assert [t["question"] for t in shown["turns"]] == ["Quelles initiatives pour l'accueil des étrangers ?",
                                                       "et à Brest ?"]
    assert shown["turns"][1]["standalone_question"] == two["standalone_question"]
    assert all(t["timings"]["total_ms"] > 0 and t["backend"] == "extractive" for t in shown["turns"])
    # the place deduced from the follow-up is stored as inferred, as the UI and the API store it
    assert shown["turns"][0]["inferred_filters"] == {}
    assert shown["turns"][1]["inferred_filters"] == two["filters"] != {}

    markdown = rag("conversations", "export", conversation, "--format", "md")
    assert markdown.returncode == 0
    assert markdown.stdout.index("## 1. Quelles initiatives") < markdown.stdout.index("## 2. et à Brest ?")
    exported = json.loads(rag("conversations", "export", conversation, "--format", "json").stdout)
    assert exported == shown


def test_text_mode_says_the_conversation_id_on_stderr(rag) -> None:
    done = rag("ask", "Comment la mairie de Brest accueille-t-elle ?", "--conversation", "new")
    assert done.returncode == 0, done.stderr
    assert "Éléments de preuve" in done.stdout
    line = next(line for line in done.stderr.splitlines() if line.startswith("conversation : "))
    conversation = line.split()[2]
    listed = rag("conversations", "list")
    assert listed.returncode == 0 and listed.stdout.startswith(conversation) and "1 tour(s)" in listed.stdout


@pytest.mark.parametrize("args", [
    ("conversations", "show", "inconnue"),
    ("conversations", "export", "inconnue", "--format", "md"),
    ("ask", "Quelles initiatives à Nantes ?", "--conversation", "inconnue", "--json"),
])
def test_unknown_id_is_one_french_line_exit_2(rag, args: tuple[str, ...]) -> None:
    done = rag(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "erreur: conversation « inconnue » introuvable (supprimée, ou ouverte avec un autre compte) : "
        "`python -m rag conversations list` donne les identifiants."]


def test_feedback_list(rag, tmp_path: Path) -> None:
    assert rag("feedback", "list").stderr.strip() == "aucun avis"
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    turn = store.add_turn(conv.id, LOCAL_USER, answer("Que fait Brest ?"))
    store.add_feedback(turn.id, LOCAL_USER, "down", ["Incomplet", "Trop long"], "il manque Quimper")
    done = rag("feedback", "list", "--json")
    assert done.returncode == 0
    [record] = json.loads(done.stdout)
    assert (record["conversation_id"], record["turn_id"], record["rating"]) == (conv.id, turn.id, "down")
    assert record["reasons"] == ["Incomplet", "Trop long"] and record["question"] == "Que fait Brest ?"
    text = rag("feedback", "list").stdout
    assert f"👎  {conv.id}  Que fait Brest ?  — Incomplet; Trop long; il manque Quimper" in text
    assert json.loads(rag("feedback", "list", "--rating", "up", "--json").stdout) == []


def test_markdown_export_neutralises_a_stored_answer_with_markup(rag, tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    conv = store.create_conversation(LOCAL_USER)
    store.add_turn(conv.id, LOCAL_USER, hostile())
    done = rag("conversations", "export", conv.id, "--format", "md")
    assert done.returncode == 0 and done.stderr == ""
    assert "\\<script\\>alert(2)\\</script\\>" in done.stdout and "\\[x\\](javascript:alert(1))" in done.stdout
    ours = re.sub(r"\[site de l'initiative\]\(https://exemple\.fr/brest\)", "", done.stdout)
    assert not unescaped_markup(ours), done.stdout  # no tag, no link but the http(s) site of a source
    assert HOSTILE_ANSWER in unescape(done.stdout) and "Commune : <i>Brest</i>" in unescape(done.stdout)


def test_corrupt_database_the_answer_still_comes_unsaved(rag, tmp_path: Path) -> None:
    (tmp_path / "app.db").write_bytes(b"pas une base\n" * 100)
    done = rag("ask", "Quelles initiatives à Nantes ?", "--conversation", "new", "--json")
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["answer"] and result["conversation_id"] is None and result["turn_id"] is None
    assert "endommagée" in done.stderr and "ne sera pas enregistrée" in done.stderr
    listed = rag("conversations", "list")
    assert listed.returncode == 2 and "endommagée" in listed.stderr and "Traceback" not in listed.stderr
