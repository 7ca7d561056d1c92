"""Incremental indexing, crash safety (SIGKILL of a real `python -m rag index`), corrupt
data files, and the one-writer lock. Hashing embedder throughout (fast, no model)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rag.catalogue.corpus import load_corpus, write_fiches
from rag.catalogue.fiche import SECTIONS, VILLE, Fiche
from rag.errors import IndexLocked, IndexUnavailable, InputError
from rag.index.chunking import chunk_corpus
from rag.index.indexing import IndexReport, index_corpus, manifest_path
from rag.index.store import VectorStore
from rag.services import Services
from tests.support.index_helpers import CountingEmbedder, make_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path, seed):
    write_fiches(seed, tmp_path / "fiches")
    return make_settings(tmp_path, tmp_path / "fiches")


def corpus_hashes(settings) -> dict[str, str]:
    chunks = chunk_corpus(load_corpus(settings.corpus_dir).fiches, settings.chunk_tokens)
    return {c.id: c.content_hash for c in chunks}


def stored_hashes(settings, embedder) -> dict[str, str]:
    store = VectorStore(settings)
    store.open(embedder.config())
    return store.hashes()


def test_unchanged_corpus_embeds_nothing_even_without_manifest(settings):
    embedder = CountingEmbedder()
    total = len(corpus_hashes(settings))
    assert index_corpus(settings, embedder=embedder) == IndexReport(added=total, embedded=total)
    assert index_corpus(settings, embedder=embedder) == IndexReport(unchanged=total)
    manifest_path(settings.data_dir).unlink()  # the store itself is diffed then
    assert index_corpus(settings, embedder=embedder) == IndexReport(unchanged=total)
    assert embedder.documents == total
    assert stored_hashes(settings, embedder) == corpus_hashes(settings)


def test_edit_updates_and_delete_removes(settings, seed):
    embedder = CountingEmbedder()
    index_corpus(settings, embedder=embedder)
    edited = seed[0].model_copy(update={"sections": {**seed[0].sections, "Description": "Un zeppelin d'accueil."}})
    write_fiches([edited], settings.corpus_dir)
    report = index_corpus(settings, embedder=embedder)
    assert (report.updated, report.added, report.removed, report.embedded) == (1, 0, 0, 1)
    (settings.corpus_dir / f"{seed[1].id}.md").unlink()
    report = index_corpus(settings, embedder=embedder)
    assert report.removed == len(chunk_corpus([seed[1]], settings.chunk_tokens)) and report.embedded == 0
    assert stored_hashes(settings, embedder) == corpus_hashes(settings)
    hits = Services(settings).retriever.search("zeppelin", k=3)
    assert hits[0].chunk.fiche_id == seed[0].id and "zeppelin" in hits[0].chunk.text
    assert all(h.chunk.fiche_id != seed[1].id for h in Services(settings).retriever.search(seed[1].title, k=20))


def test_other_embedder_needs_rebuild(settings):
    index_corpus(settings, embedder=CountingEmbedder())
    with pytest.raises(IndexUnavailable, match="index --rebuild"):
        index_corpus(settings, embedder=CountingEmbedder(dim=128))
    report = index_corpus(settings, embedder=CountingEmbedder(dim=128), rebuild=True)
    assert report.added == report.embedded == len(corpus_hashes(settings))


def test_missing_or_empty_corpus_never_empties_the_index(tmp_path, settings):
    index_corpus(settings, embedder=CountingEmbedder())
    for corpus_dir in (tmp_path / "nowhere", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(InputError, match="aucune fiche valide"):
            index_corpus(settings.model_copy(update={"corpus_dir": corpus_dir}), embedder=CountingEmbedder())
    assert stored_hashes(settings, CountingEmbedder()) == corpus_hashes(settings)


def test_second_writer_gets_index_locked(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time; lock = filelock.FileLock(sys.argv[1]); lock.acquire();"
         " print('held', flush=True); time.sleep(60)", str(settings.data_dir / "index.lock")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IndexLocked, match=f"une autre indexation tourne sur {settings.data_dir}"):
            index_corpus(settings, embedder=CountingEmbedder())
    finally:
        holder.kill()
        holder.wait()
    assert index_corpus(settings, embedder=CountingEmbedder()).added > 0  # lock released with its process


def _env(settings) -> dict[str, str]:
    return {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
            "RAG_EMBEDDER": "hashing", "PYTHONPATH": str(ROOT)}


def _cli(settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rag", *args], env=_env(settings), capture_output=True,
                          text=True, input=stdin, timeout=120)


_READER = """
import json, sys
from rag.config import load_settings
from rag.services import Services
retriever = Services(load_settings()).retriever  # read-only: no ensure_index
print(json.dumps([h.chunk.fiche_id for h in retriever.search(sys.argv[1], k=5)]))
"""


def _previous_index_answers(settings, title: str, fiche_id: str) -> None:
    """In a fresh process, without indexing: the index answers and finds the fiche."""
    done = subprocess.run([sys.executable, "-c", _READER, title], env=_env(settings), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert fiche_id in json.loads(done.stdout)


def _grow(seed, copies: int):
    """The seed plus ``copies`` variants of each fiche (new ids, edited text)."""
    grown = [seed[0].model_copy(update={"sections": {**seed[0].sections, "Description": "Texte révisé."}}), *seed[1:]]
    for n in range(copies):
        for f in seed:
            sections = {k: f"{v} (variante {n})" for k, v in f.sections.items()}
            update = {"id": f"{f.id[:60]}-v{n}", "title": f"{f.title} {n}", "sections": sections}
            grown.append(f.model_copy(update=update))
    return grown


def _dirty_stamp(settings) -> int | None:
    try:
        return (settings.data_dir / "index.dirty").stat().st_mtime_ns
    except FileNotFoundError:
        return None


@pytest.mark.timeout(600)
def test_sigkill_at_random_points_keeps_previous_index_and_next_run_completes(settings, seed):
    """Kills land at a random time, or a random time after the run started changing the
    store (it touches ``index.dirty`` then): the window that matters."""
    assert _cli(settings, "index").returncode == 0
    write_fiches(_grow(seed, 60), settings.corpus_dir)
    rng = random.Random(1234)
    killed = 0
    for args, in_store_phase in [(("index",), False), (("index",), True), (("index", "--rebuild"), True),
                                 (("index",), True)]:
        stamp = _dirty_stamp(settings)
        run = subprocess.Popen([sys.executable, "-m", "rag", *args], env=_env(settings),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while in_store_phase and _dirty_stamp(settings) == stamp and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5) if in_store_phase else rng.uniform(0.5, 3.0))
        if run.poll() is None:
            run.send_signal(signal.SIGKILL)
            killed += 1
        run.wait()
        _previous_index_answers(settings, seed[2].title, seed[2].id)
    assert killed >= 3
    final = _cli(settings, "index", "--json")
    assert final.returncode == 0, final.stderr
    assert stored_hashes(settings, CountingEmbedder()) == corpus_hashes(settings)
    _previous_index_answers(settings, f"{seed[3].title} 59", f"{seed[3].id[:60]}-v59")


def test_cli_index_json_then_search_stdin_one_json_line_per_question(settings, seed):
    first = _cli(settings, "index", "--json")
    assert first.returncode == 0 and json.loads(first.stdout)["added"] == len(corpus_hashes(settings))
    assert json.loads(_cli(settings, "index", "--json").stdout) == {
        "added": 0, "updated": 0, "removed": 0, "unchanged": len(corpus_hashes(settings)), "embedded": 0}
    done = _cli(settings, "search", "-", "--k", "3", "--filter", "ville=nantes",
                stdin=f"{seed[1].title}\n\n \x00 \nprojets de l'Agence Grrr\n")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["query"] for line in lines] == [seed[1].title, "\x00", "projets de l'Agence Grrr"]
    assert "question vide" in lines[1]["error"] and lines[1]["hits"] == []
    for line in (lines[0], lines[2]):
        assert 0 < len(line["hits"]) <= 3
        assert set(line["hits"][0]) == {"fiche_id", "title", "section", "score", "text"}
    assert all("Nantes" in f.first("Ville") for f in seed if f.id in {h["fiche_id"] for h in lines[2]["hits"]})


def test_running_services_see_an_index_made_by_another_process(settings, seed):
    services = Services(settings)
    services.ensure_index()
    assert services.retriever.search("zeppelin", k=1, mode="dense")[0].chunk.fiche_id != seed[0].id
    edited = seed[0].model_copy(update={"sections": {**seed[0].sections, "Description": "Un zeppelin d'accueil."}})
    write_fiches([edited], settings.corpus_dir)
    (settings.corpus_dir / f"{seed[1].id}.md").unlink()
    assert _cli(settings, "index").returncode == 0
    for mode in ("dense", "bm25"):
        assert services.retriever.search("zeppelin", k=1, mode=mode)[0].chunk.fiche_id == seed[0].id
        assert seed[1].id not in {h.chunk.fiche_id for h in services.retriever.search(seed[1].title, k=50, mode=mode)}


@pytest.mark.parametrize("damage", ["chroma.sqlite3", "CURRENT", "chunks.jsonl", "vocab.index.json"])
def test_corrupt_data_file_gives_clear_error_and_rebuild_recovers(settings, damage):
    index_corpus(settings, embedder=CountingEmbedder())
    target = next(p for p in settings.data_dir.rglob(damage) if p.is_file())
    target.write_bytes(b"\x00garbage{" * 100)
    broken = _cli(settings, "search", "accueil des usagers", "--json")  # a fresh process
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert broken.stderr.strip().splitlines()[-1].startswith("erreur:")
    assert "index --rebuild" in broken.stderr
    index_corpus(settings, embedder=CountingEmbedder(), rebuild=True)
    assert len(Services(settings).retriever.search("accueil des usagers", k=10)) == 10


def test_a_running_process_keeps_saying_the_index_is_damaged_then_recovers(settings):
    """A server process (API, UI) asked again and again: the same French error each time
    (chromadb's cache of the half-opened folder once made the second one an
    AttributeError, a 500 in the API), and answers again after a rebuild elsewhere.
    Indexed by another process: this one must open the damaged folder itself."""
    assert _cli(settings, "index").returncode == 0
    target = next(p for p in settings.data_dir.rglob("chroma.sqlite3") if p.is_file())
    data = bytearray(target.read_bytes())
    data[100:4000] = b"x" * 3900  # pages damaged, header intact: "database disk image is malformed"
    target.write_bytes(bytes(data))
    services = Services(settings)
    for _ in range(3):
        with pytest.raises(IndexUnavailable, match="index --rebuild"):
            services.retriever.search("accueil des usagers", k=3)
    assert _cli(settings, "index", "--rebuild").returncode == 0
    assert len(services.retriever.search("accueil des usagers", k=3)) == 3


def test_corrupt_manifest_is_recovered_by_plain_index(settings):
    embedder = CountingEmbedder()
    index_corpus(settings, embedder=embedder)
    manifest_path(settings.data_dir).write_text("{not json")
    assert index_corpus(settings, embedder=embedder).embedded == 0
    assert json.loads(manifest_path(settings.data_dir).read_text())["fingerprint"]


WORDS = ["accueil", "mairie", "guichet", "usagers", "médiation", "numérique", "Brest", "Nantes", "agents", "hall",
         "signalétique", "attente", "confidentialité", "prototype", "habitants"]


class CorpusMachine(RuleBasedStateMachine):
    """Random add / edit / delete of fiche files, each followed by ``index``: the store
    and the BM25 index always match the corpus exactly, and each fiche is findable."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="rag-machine-"))
        self.settings = make_settings(self.root, self.root / "fiches")
        self.embedder = CountingEmbedder()
        self.fiches: dict[str, Fiche] = {}
        self.counter = 0

    def _index(self) -> None:
        if self.fiches:
            index_corpus(self.settings, embedder=self.embedder)

    @rule(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=40), sections=st.integers(1, 3))
    def add(self, words, sections):
        self.counter += 1
        fid = f"fiche-{self.counter}"
        text = {name: " ".join(words) + f" {name.lower()}" for name in SECTIONS[:sections]}
        title = f"Initiative {fid} {words[0]}"
        self.fiches[fid] = Fiche(id=fid, title=title, sections=text, metadata={VILLE: words[-1]})
        write_fiches([self.fiches[fid]], self.settings.corpus_dir)
        self._index()

    @precondition(lambda self: self.fiches)
    @rule(data=st.data(), word=st.sampled_from(WORDS))
    def edit(self, data, word):
        fid = data.draw(st.sampled_from(sorted(self.fiches)))
        f = self.fiches[fid]
        sections = {**f.sections, "Description": f"{f.sections.get('Description', '')} {word}".strip()}
        self.fiches[fid] = f.model_copy(update={"sections": sections})
        write_fiches([self.fiches[fid]], self.settings.corpus_dir)
        self._index()

    @precondition(lambda self: len(self.fiches) > 1)
    @rule(data=st.data())
    def delete(self, data):
        fid = data.draw(st.sampled_from(sorted(self.fiches)))
        (self.settings.corpus_dir / f"{fid}.md").unlink()
        del self.fiches[fid]
        self._index()

    @invariant()
    def store_matches_corpus(self):
        if not self.fiches:
            return
        expected = {c.id: c.content_hash for c in chunk_corpus(list(self.fiches.values()), self.settings.chunk_tokens)}
        assert stored_hashes(self.settings, self.embedder) == expected
        retriever = Services(self.settings).retriever
        assert sorted(c.id for c in retriever.lexical.chunks) == sorted(expected)
        for fid, f in self.fiches.items():
            assert fid in {h.chunk.fiche_id for h in retriever.search(f.title, k=5)}

    def teardown(self):
        shutil.rmtree(self.root, ignore_errors=True)


TestCorpusMachine = CorpusMachine.TestCase
TestCorpusMachine.settings = hypothesis_settings(max_examples=12, stateful_step_count=8, deadline=None)
