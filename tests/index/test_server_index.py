"""Server mode against a real `chroma run`: the server holds the truth (chunks, fiches,
index record), a replica with no corpus folder and an empty data dir serves from it,
follows a re-index live, and a rebuild is switched in only when complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rag.catalogue.corpus import load_corpus, write_fiches
from rag.errors import IndexUnavailable, StoreUnavailable
from rag.index.chunking import chunk_corpus
from rag.index.indexing import IndexReport, index_corpus
from rag.index.lexical import Analyzer, LexicalIndex
from rag.index.lexical_blob import PREFIX, part_ids, read_blob
from rag.index.meta import DIRTY, RECORD
from rag.index.store import VectorStore
from rag.services import Services
from tests.support.index_helpers import CountingEmbedder, own_server_index

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ["accueil des usagers en mairie", "médiation numérique", "co-conception avec les agents", "guichet"]


@pytest.fixture
def settings(server_settings):
    return server_settings


def replica(settings, tmp_path, name: str = "replica") -> Services:
    """Services of a replica: same server and collection, no corpus, its own empty data dir."""
    return Services(settings.model_copy(update={"corpus_dir": tmp_path / f"{name}-no-corpus",
                                                "data_dir": tmp_path / f"{name}-data"}))


def record(settings) -> dict:
    return VectorStore(settings).meta().record()


def collections(settings) -> set[str]:
    client = VectorStore(settings).connection.client()
    return {c.name for c in client.list_collections() if c.name.startswith(settings.collection)}


def edit(fiche, text: str):
    return fiche.model_copy(update={"sections": {**fiche.sections, "Description": text}})


def test_replica_serves_chunks_bm25_and_fiches_from_the_server_alone(settings, tmp_path, seed):
    index_corpus(settings, embedder=CountingEmbedder())
    served = replica(settings, tmp_path)
    corpus = load_corpus(settings.corpus_dir).fiches
    assert dict(served.fiches) == {f.id: f for f in corpus}  # lossless, commune/région included
    assert seed[2].id in [h.chunk.fiche_id for h in served.retriever.search(seed[2].title, k=5)]
    local = LexicalIndex.build(chunk_corpus(corpus, settings.chunk_tokens), "corpus")
    assert sorted(c.id for c in served.lexical.chunks) == sorted(c.id for c in local.chunks)
    for query in QUERIES:  # the BM25 built from the collection scores exactly as the corpus' one
        assert {c.id: round(s, 4) for c, s in served.lexical.search(query, 20)} == \
            {c.id: round(s, 4) for c, s in local.search(query, 20)}
    assert not served.settings.data_dir.exists() and not served.settings.corpus_dir.exists()


def test_bm25_fetched_from_the_server_scores_as_the_corpus_one_and_a_lost_blob_falls_back(settings, tmp_path):
    index_corpus(settings, embedder=CountingEmbedder())
    published, meta = record(settings), VectorStore(settings).meta()
    fetched = read_blob(meta, published)
    assert fetched is not None and fetched.fingerprint == published["fingerprint"]
    store = VectorStore(settings, generation=published["generation"])
    store.open(CountingEmbedder().config())
    rebuilt = LexicalIndex.build(store.chunks(), published["fingerprint"])  # what a replica did before
    corpus = LexicalIndex.build(chunk_corpus(load_corpus(settings.corpus_dir).fiches, settings.chunk_tokens), "c")
    assert [c.model_dump() for c in fetched.chunks] == [c.model_dump() for c in rebuilt.chunks]
    for query in [*QUERIES, "zzz inconnu", "accueil accueil mairie"]:
        weights = Counter(fetched.terms(query))
        assert np.array_equal(fetched.scores(weights), rebuilt.scores(weights))  # same chunks, same order
        assert ranked(fetched, query) == ranked(corpus, query)
        assert [fetched.idf(t) for t in weights] == [corpus.idf(t) for t in weights]
    meta.delete(part_ids(published["run"], published["lexical_parts"])[-1:])  # a part lost: the collection serves
    assert read_blob(meta, published) is None
    served = replica(settings, tmp_path).lexical
    assert ranked(served, QUERIES[0]) == ranked(corpus, QUERIES[0])


def ranked(index: LexicalIndex, query: str) -> dict[str, float]:
    """The 20 best chunks' scores (rounded: the corpus' own chunk order sums in another order)."""
    return {c.id: round(s, 4) for c, s in index.search(query, 20)}


def test_terms_of_all_is_terms_text_by_text(settings):
    texts = [c.indexed_text for c in chunk_corpus(load_corpus(settings.corpus_dir).fiches, settings.chunk_tokens)]
    texts += ["L'İstanbul straße ŒUVRE d'accueil — n°3, ‹guichet›", ""]
    analyzer = Analyzer()
    assert analyzer.terms_of_all(texts) == [analyzer.terms(t) for t in texts]


def test_unchanged_touched_edited_removed(settings, seed):
    embedder = CountingEmbedder()
    total = len(chunk_corpus(seed, settings.chunk_tokens))
    assert index_corpus(settings, embedder=embedder) == IndexReport(added=total, embedded=total)
    first = record(settings)
    assert (first["chunks"], first["fiches"], first["embedder_config"]["embedder"]) == (total, len(seed), "hashing")
    assert index_corpus(settings, embedder=embedder) == IndexReport(unchanged=total)
    for path in settings.corpus_dir.glob("*.md"):
        os.utime(path)
    assert index_corpus(settings, embedder=embedder) == IndexReport(unchanged=total)
    assert record(settings)["run"] == first["run"]  # nothing changed: replicas reload nothing
    assert embedder.documents == total
    write_fiches([edit(seed[0], "Un zeppelin d'accueil.")], settings.corpus_dir)
    assert index_corpus(settings, embedder=embedder).updated == 1
    middle = record(settings)
    (settings.corpus_dir / f"{seed[1].id}.md").unlink()
    assert index_corpus(settings, embedder=embedder).removed > 0
    last = record(settings)
    assert last["run"] != first["run"] and last["generation"] == first["generation"]
    blobs = VectorStore(settings).meta().ids(PREFIX)  # this run's BM25 and the previous one's, not older
    assert {i.rsplit("-", 1)[0] for i in blobs} == {f"{PREFIX}{last['run']}", f"{PREFIX}{middle['run']}"}
    fiches = replica(settings, settings.data_dir.parent).fiches
    assert seed[1].id not in fiches and "zeppelin" in fiches[seed[0].id].sections["Description"]


def test_running_replica_picks_up_a_reindex_and_in_flight_work_finishes_on_the_old(settings, tmp_path, seed):
    index_corpus(settings, embedder=CountingEmbedder())
    served = replica(settings, tmp_path)
    before = served.retriever
    assert before.search("zeppelin", k=3, mode="bm25") == []
    write_fiches([edit(seed[0], "Un zeppelin d'accueil.")], settings.corpus_dir)
    index_corpus(settings, rebuild=True, embedder=CountingEmbedder())  # a new generation
    deadline = time.monotonic() + 10
    while served.retriever is before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = served.retriever
    assert after is not before and after.store.generation == record(settings)["generation"]
    for mode in ("dense", "bm25"):
        assert after.search("zeppelin", k=1, mode=mode)[0].chunk.fiche_id == seed[0].id
    assert "zeppelin" in served.fiches[seed[0].id].sections["Description"]
    # a request that took the old retriever finishes on it: its generation is kept
    assert before.store.generation == record(settings)["previous"]
    assert [h.chunk.fiche_id for h in before.search(seed[3].title, k=3)][0] == seed[3].id


def _env(settings) -> dict[str, str]:
    return {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_DATA_DIR": str(settings.data_dir),
            "RAG_EMBEDDER": "hashing", "RAG_CHROMA_URL": settings.chroma_url,
            "RAG_COLLECTION": settings.collection, "PYTHONPATH": str(ROOT)}


@pytest.mark.timeout(600)
def test_killed_rebuild_is_never_seen_and_old_generations_are_deleted(settings, tmp_path, seed):
    index_corpus(settings, embedder=CountingEmbedder())
    first = record(settings)
    answers = [h.chunk.id for h in replica(settings, tmp_path, "a").retriever.search(seed[4].title, k=5)]
    grown = [*seed, *(f.model_copy(update={"id": f"{f.id[:60]}-v{n}", "title": f"{f.title} {n}"})
                      for n in range(40) for f in seed)]
    write_fiches(grown, settings.corpus_dir)
    run = subprocess.Popen([sys.executable, "-m", "rag", "index", "--rebuild"], env=_env(settings),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = VectorStore(settings).meta()
    deadline = time.monotonic() + 120
    while not meta.get([DIRTY]) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert run.poll() is None, "the rebuild finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert record(settings) == first  # the pointer never moved
    assert len(collections(settings)) == 5  # meta, current chunks + fiches, the killed rebuild's chunks + fiches
    assert [h.chunk.id for h in replica(settings, tmp_path, "b").retriever.search(seed[4].title, k=5)] == answers
    with pytest.raises(IndexUnavailable, match="déjà en cours.*valable jusqu'à"):
        index_corpus(settings, embedder=CountingEmbedder())
    meta.put(max(meta.get_prefixed("lease-")), {"expires": 0.0})  # the killed run's lease, as if expired
    index_corpus(settings, embedder=CountingEmbedder())  # dirty: diffs the store, completes
    second = record(settings)
    assert second["generation"] == first["generation"] and second["chunks"] == len(
        chunk_corpus(grown, settings.chunk_tokens))
    assert collections(settings) == {f"{settings.collection}-meta", f"{settings.collection}-{first['generation']}",
                                     f"{settings.collection}-{first['generation']}-fiches"}  # orphan deleted
    for _ in range(2):
        index_corpus(settings, rebuild=True, embedder=CountingEmbedder())
    third = record(settings)
    assert collections(settings) == {f"{settings.collection}-{name}" for name in
                                     ("meta", third["generation"], f"{third['generation']}-fiches",
                                      third["previous"], f"{third['previous']}-fiches")}


def test_start_up_reads_the_index_record_once_while_fresh(settings, tmp_path):
    index_corpus(settings, embedder=CountingEmbedder())
    published, meta = record(settings), VectorStore(settings).meta()
    naming_nothing = {**published, "run": "elsewhere", "generation": "000000000000"}
    served = replica(settings.model_copy(update={"index_check_seconds": 60.0}), tmp_path, "a")
    assert served.ensure_index() is None
    meta.put(RECORD, naming_nothing)  # read again, it would fail the load
    assert served.store.generation == published["generation"]  # the first load used ensure_index's read
    meta.put(RECORD, published)
    checking = replica(settings.model_copy(update={"index_check_seconds": 0.0}), tmp_path, "b")
    assert checking.ensure_index() is None
    meta.put(RECORD, naming_nothing)  # a record older than the check interval is read again
    with pytest.raises(IndexUnavailable, match="aucun index"):
        checking.retriever.search("guichet", k=5)


def test_replica_before_any_index_says_what_to_do(settings, tmp_path):
    served = replica(settings, tmp_path)
    for call in (lambda: served.retriever, lambda: served.fiches, served.ensure_index):
        with pytest.raises(IndexUnavailable, match="aucun index publié.*python -m rag index"):
            call()


def test_chroma_server_down_then_back_replica_recovers_nothing_lost(tmp_path, seed):
    with own_server_index(tmp_path, seed) as (server, settings):
        served = replica(settings, tmp_path)

        def dense() -> list[str]:  # the fused order also depends on HNSW's approximate tail
            return [h.chunk.id for h in served.retriever.search("guichet", k=5, mode="dense")]

        before = dense()
        server.stop()
        time.sleep(0.2)
        with pytest.raises(StoreUnavailable, match=rf"serveur Chroma {server.url} injoignable.*chroma run"):
            served.retriever.search("guichet", k=5)
        server.start()
        assert dense() == before
        assert replica(settings, tmp_path, "fresh").store.count() == len(chunk_corpus(seed, settings.chunk_tokens))
