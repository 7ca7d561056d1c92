"""Two stateless replicas, as separate ``python -m rag`` processes, against one real
`chroma run` and one real PostgreSQL: each replica has its own empty data dir, only A has
a corpus folder. A indexes, B answers; A re-indexes an edited fiche and a running B
(``search -``, fed on stdin) sees it; a conversation started on A is continued on B;
a second index run is refused; Chroma then PostgreSQL are killed mid-session (a
readable French message, nothing saved is lost, recovery without restarting B)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.catalogue.corpus import write_fiches
from rag.config import load_settings
from rag.index.store import VectorStore
from tests.servers.postgres import PostgresServer, postgres_server
from tests.support.chroma_server import ChromaServer
from tests.support.index_helpers import import_seed

pytestmark = [pytest.mark.server, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "Comment améliorer l'accueil des usagers en mairie ?"


@dataclass
class Cluster:
    root: Path
    chroma: ChromaServer
    postgres: PostgresServer
    corpus: Path  # replica A's only

    def env(self, replica: str, corpus: Path | None = None, collection: str = "fiches") -> dict[str, str]:
        """A replica's environment: the two servers, its own (never created) data dir,
        and no corpus folder unless one is given."""
        return {**os.environ, "PYTHONPATH": str(ROOT), "RAG_CHROMA_URL": self.chroma.url,
                "RAG_DATABASE_URL": self.postgres.url, "RAG_COLLECTION": collection, "RAG_EMBEDDER": "hashing",
                "RAG_BACKEND": "extractive", "RAG_INDEX_CHECK_SECONDS": "1",
                "RAG_DATA_DIR": str(self.root / f"data-{replica}"),
                "RAG_CORPUS_DIR": str(corpus or self.root / f"no-corpus-{replica}")}

    def run(self, replica: str, *args: str, corpus: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rag", *args], env={**self.env(replica, corpus), **env},
                              cwd=self.root, capture_output=True, text=True, timeout=300)

    def ask(self, replica: str, question: str, *args: str) -> dict:
        done = self.run(replica, "ask", question, "--json", *args)
        assert done.returncode == 0, done.stderr
        return {**json.loads(done.stdout), "stderr": done.stderr}


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    return import_seed(tmp_path_factory.mktemp("seed") / "fiches")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, seed) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    chroma = ChromaServer(root / "chroma").start()
    try:
        with postgres_server(root) as postgres:
            write_fiches(seed, root / "corpus-a")
            yield Cluster(root, chroma, postgres, root / "corpus-a")
    finally:
        chroma.stop()


class SearchProcess:
    """A long-lived ``python -m rag search - --json`` replica process, one question per line."""

    def __init__(self, cluster: Cluster, replica: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "rag", "search", "-", "--json", "--k", "3"],
                                        env=cluster.env(replica), cwd=cluster.root, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def ask(self, question: str) -> dict:
        self.process.stdin.write(question + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"search process ended ({self.process.poll()})"
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(60)


def _edit(fiche, text: str):
    return fiche.model_copy(update={"sections": {**fiche.sections, "Description": text}})


def test_a_indexes_and_b_answers_with_no_corpus_and_an_empty_data_dir(cluster, seed):
    indexed = cluster.run("a", "index", "--json", corpus=cluster.corpus)
    assert indexed.returncode == 0, indexed.stderr
    assert json.loads(indexed.stdout)["added"] > 0
    answer = cluster.ask("b", QUESTION)
    assert answer["error"] is None and not answer["abstained"] and answer["citations"]
    assert "accueil-en-mairie-de-brest" in {s["fiche_id"] for s in answer["sources"]}
    assert not (cluster.root / "data-b").exists() and not (cluster.root / "no-corpus-b").exists()


def test_running_b_sees_a_reindex_of_an_edited_fiche(cluster, seed):
    b = SearchProcess(cluster, "b")
    try:
        assert all("dirigeable" not in hit["text"] for hit in b.ask("dirigeable zeppelin")["hits"])
        write_fiches([_edit(seed[0], "Un dirigeable zeppelin sert de guichet d'accueil.")], cluster.corpus)
        reindexed = cluster.run("a", "index", "--json", corpus=cluster.corpus)
        assert json.loads(reindexed.stdout)["updated"] == 1, reindexed.stderr
        started = time.monotonic()
        while time.monotonic() - started < 60:
            top = b.ask("dirigeable zeppelin")["hits"][0]
            if "dirigeable" in top["text"]:
                break
            time.sleep(0.5)
        assert top["fiche_id"] == seed[0].id and "dirigeable" in top["text"]
        assert b.process.poll() is None  # the same process, not restarted
    finally:
        b.close()


def test_conversation_started_on_a_continues_on_b(cluster):
    first = cluster.ask("a", QUESTION, "--conversation", "new")
    conversation = first["conversation_id"]
    assert conversation and first["turn_id"]
    follow_up = cluster.ask("b", "et à Nantes ?", "--conversation", conversation)
    assert follow_up["conversation_id"] == conversation
    standalone = follow_up["standalone_question"].lower()
    assert "accueil" in standalone and "mairie" in standalone and "nantes" in standalone  # from A's turn
    shown = cluster.run("b", "conversations", "show", conversation, "--json")
    assert [t["question"] for t in json.loads(shown.stdout)["turns"]] == [QUESTION, "et à Nantes ?"], shown.stderr


def test_second_index_run_against_the_same_server_is_refused(cluster, seed):
    grown = [*seed, *(f.model_copy(update={"id": f"{f.id[:60]}-v{n}", "title": f"{f.title} {n}"})
                      for n in range(60) for f in seed)]
    write_fiches(grown, cluster.root / "corpus-grown")
    env = cluster.env("a", cluster.root / "corpus-grown", collection="grown")
    first = subprocess.Popen([sys.executable, "-m", "rag", "index"], env=env, cwd=cluster.root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    meta = VectorStore(load_settings(chroma_url=cluster.chroma.url, collection="grown")).meta()
    try:
        deadline = time.monotonic() + 120
        holder = f"(pid {first.pid})"
        while not any(holder in lease.get("holder", "") for lease in meta.get_prefixed("lease-").values()):
            assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lease"
            time.sleep(0.1)
        refused = cluster.run("c", "index", corpus=cluster.root / "corpus-grown", RAG_COLLECTION="grown")
        assert first.poll() is None, "the first run ended before the second one was refused"
        assert refused.returncode == 2, refused.stderr
        message = refused.stderr.strip().splitlines()[-1]
        assert message.startswith(f"erreur: une indexation est déjà en cours sur {cluster.chroma.url}")
        assert f"(pid {first.pid})" in message and "valable jusqu'à" in message and "UTC" in message
    finally:
        assert first.wait(300) == 0, first.stderr.read()
    assert json.loads(cluster.run("c", "index", "--json", corpus=cluster.root / "corpus-grown",
                                  RAG_COLLECTION="grown").stdout)["unchanged"] > 0  # lease released


def test_chroma_killed_mid_session_readable_message_then_recovers(cluster):
    b = SearchProcess(cluster, "b")
    try:
        before = b.ask(QUESTION)["hits"]
        assert before
        cluster.chroma.process.kill()  # SIGKILL, mid-session
        cluster.chroma.process.wait()
        down = b.ask(QUESTION)
        assert down["hits"] == [] and f"serveur Chroma {cluster.chroma.url} injoignable" in down["error"]
        failed = cluster.run("c", "ask", QUESTION)
        assert failed.returncode == 2 and "Traceback" not in failed.stderr
        last_line = failed.stderr.strip().splitlines()[-1]
        assert last_line.startswith(f"erreur: serveur Chroma {cluster.chroma.url} injoignable")
        cluster.chroma.start()
        assert b.ask(QUESTION)["hits"] == before  # same process, same index: nothing lost
    finally:
        b.close()


def test_postgres_killed_mid_session_readable_message_nothing_lost_then_recovers(cluster):
    conversation = cluster.ask("a", QUESTION, "--conversation", "new")["conversation_id"]
    cluster.ask("b", "et à Nantes ?", "--conversation", conversation)
    cluster.postgres.kill()  # SIGKILL of the postmaster and its backends
    down = cluster.ask("b", "et à Brest ?", "--conversation", conversation)
    assert down["sources"] and down["conversation_id"] is None  # answered, not saved
    assert "note : historique indisponible" in down["stderr"] and "ne sera pas enregistrée" in down["stderr"]
    cluster.postgres.start()
    back = cluster.ask("b", "et à Brest ?", "--conversation", conversation)
    assert back["conversation_id"] == conversation and "accueil" in back["standalone_question"].lower()
    shown = json.loads(cluster.run("a", "conversations", "show", conversation, "--json").stdout)
    assert [t["question"] for t in shown["turns"]] == [QUESTION, "et à Nantes ?", "et à Brest ?"]
