"""A replica as an ops person runs it (found following docs/deploy.md): an idle replica
follows re-indexing on its own, and a replica with another embedder is told how to fix
its settings rather than to rebuild the shared index. Real `chroma run`, hashing embedder."""

from __future__ import annotations

import logging
import time

import pytest

from rag.catalogue.corpus import write_fiches
from rag.errors import EmbedderMismatch
from rag.index.indexing import index_corpus
from rag.index.store import VectorStore
from rag.services import Services
from tests.support.index_helpers import CountingEmbedder, own_server_index

pytestmark = pytest.mark.server


@pytest.fixture
def settings(server_settings):
    return server_settings


def replica(settings, tmp_path, **update) -> Services:
    """A replica: same server and collection, no corpus folder, its own empty data dir."""
    return Services(settings.model_copy(update={"corpus_dir": tmp_path / "no-corpus",
                                                "data_dir": tmp_path / "replica-data", **update}))


def published_run(settings) -> str:
    return VectorStore(settings).meta().record()["run"]


def test_idle_replica_follows_two_rebuilds_without_a_request(settings, tmp_path, seed):
    """Deploy QA: a replica that served nothing while the index was re-indexed answered
    its next request from the old index (the check was only started by a request), and
    after two ``--rebuild`` its generation was deleted: 503 « aucun index … lancez
    `python -m rag index` ». Now a background check follows the record on its own."""
    index_corpus(settings, embedder=CountingEmbedder())
    served = replica(settings, tmp_path)
    assert served.retriever.search("zeppelin", k=3, mode="bm25") == []
    live = served._live()
    edited = seed[0].model_copy(update={"sections": {**seed[0].sections, "Description": "Un zeppelin d'accueil."}})
    write_fiches([edited], settings.corpus_dir)
    for _ in range(2):  # the replica's generation is deleted by the second rebuild
        index_corpus(settings, rebuild=True, embedder=CountingEmbedder())
    deadline = time.monotonic() + 30  # nothing asks the replica anything meanwhile
    while live.run != published_run(settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.run == published_run(settings)
    for mode in ("bm25", "dense", "hybrid"):  # the very first request is answered from the new index
        assert served.retriever.search("zeppelin", k=1, mode=mode)[0].chunk.fiche_id == seed[0].id


def test_replica_with_another_embedder_is_told_to_match_the_index_job(settings, tmp_path):
    """Deploy QA: the mismatch told a replica (no corpus) to run `index --rebuild`, which
    on the corpus machine would rebuild every replica's index with the wrong embedder."""
    index_corpus(settings, embedder=CountingEmbedder())
    wrong = replica(settings, tmp_path, embedder="static")
    with pytest.raises(EmbedderMismatch, match=r"embedder=hashing.*embedder=static.*RAG_EMBEDDER=hashing") as caught:
        wrong.retriever.search("accueil", k=1)
    assert "sur la machine du corpus" in str(caught.value)


def test_chroma_down_while_idle_is_logged_once_and_the_watch_resumes(tmp_path, seed, caplog):
    """The watch now runs without requests: a Chroma outage must not log a warning every
    interval, and once the server is back a re-index is followed again."""
    with own_server_index(tmp_path, seed) as (server, settings):
        served = replica(settings, tmp_path)
        live = served._live()
        assert served.retriever.search("accueil", k=1)  # loaded: the watch runs
        caplog.set_level(logging.INFO, logger="rag.index.replica")
        server.stop()
        time.sleep(2.0)  # some twenty checks fail meanwhile
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "injoignable" in warnings[0].getMessage()
        server.start()
        index_corpus(settings, rebuild=True, embedder=CountingEmbedder())
        deadline = time.monotonic() + 30
        while live.run != published_run(settings) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert live.run == published_run(settings)
        assert "index du serveur de nouveau lisible" in caplog.messages
