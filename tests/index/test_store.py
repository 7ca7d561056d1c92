"""The vector store contract, run against the embedded client and a real `chroma run`
server (one class, subclassed per mode), plus the faults proper to each mode."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rag.errors import EmbedderMismatch, IndexUnavailable, StoreUnavailable
from rag.index.store import VectorStore
from rag.types import Chunk
from tests.support.chroma_server import ChromaServer
from tests.support.index_helpers import make_settings

CONFIG = {"embedder": "hashing", "dim": 4, "model": "v1"}


def chunk(i: int, fiche_id: str = "f", **metadata: str) -> Chunk:
    return Chunk(id=f"{fiche_id}::s::{i}", fiche_id=fiche_id, title=f"Titre {fiche_id}", section="Description",
                 text=f"texte {i}", metadata={"ville": "Brest", "partenaires": "A | B", **metadata})


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


class StoreContract:
    """What the store must do in any mode. Subclasses provide ``settings``."""

    @pytest.fixture
    def store(self, settings) -> VectorStore:
        store = VectorStore(settings)
        store.open(CONFIG, create=True)
        store.commit()
        return store

    def test_upsert_then_query_returns_chunks_with_metadata_and_cosine(self, store):
        store.upsert([chunk(0), chunk(1, "g", ville="Nantes")], np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0)]))
        hits = store.query(unit(1, 0.1, 0, 0), 5)
        assert [i for i, _ in hits] == ["f::s::0", "g::s::1"]
        assert hits[0][1] == pytest.approx(float(unit(1, 0.1, 0, 0) @ unit(1, 0, 0, 0)), abs=1e-4)
        assert store.get(["g::s::1", "nope", "f::s::0"]) == [chunk(0), chunk(1, "g", ville="Nantes")]

    def test_collection_has_no_embedding_function_and_cosine_space(self, store):
        collection = store.open(CONFIG)
        assert collection.configuration["embedding_function"] is None
        assert collection.configuration["hnsw"]["space"] == "cosine"
        assert collection.metadata == CONFIG

    def test_query_restricted_to_ids(self, store):
        store.upsert([chunk(0, "f"), chunk(1, "g"), chunk(2, "h")], np.stack([unit(1, 0, 0, 0)] * 3))
        assert {i for i, _ in store.query(unit(1, 0, 0, 0), 10, ["g::s::1", "h::s::2"])} == {"g::s::1", "h::s::2"}
        assert store.query(unit(1, 0, 0, 0), 10, []) == []

    def test_hashes_read_every_page_and_upsert_replaces(self, store):
        chunks = [chunk(i) for i in range(12)]
        store.upsert(chunks, np.stack([unit(1, i, 0, 0) for i in range(12)]))
        edited = chunks[3].model_copy(update={"text": "nouveau"})
        store.upsert([edited], np.stack([unit(0, 0, 1, 0)]))
        hashes = store.hashes(page=5)
        assert len(hashes) == 12 and store.count() == 12
        assert hashes[edited.id] == edited.content_hash != chunks[3].content_hash

    def test_chunks_reads_every_page_in_id_order(self, store):
        chunks = [chunk(i, fiche_id) for i in range(7) for fiche_id in ("g", "f")]
        store.upsert(chunks, np.stack([unit(1, i, 0, 0) for i in range(len(chunks))]))
        assert store.chunks(page=3) == sorted(chunks, key=lambda c: c.id)

    def test_delete(self, store):
        store.upsert([chunk(0), chunk(1)], np.stack([unit(1, 0, 0, 0), unit(0, 1, 0, 0)]))
        store.delete(["f::s::0"])
        assert set(store.hashes()) == {"f::s::1"}

    def test_other_embedder_is_refused_with_rebuild_hint(self, settings, store):
        with pytest.raises(EmbedderMismatch, match=r"embedder=hashing.*embedder=use.*index --rebuild"):
            VectorStore(settings).open({"embedder": "use", "dim": 512})

    def test_missing_index_says_to_index(self, settings):
        with pytest.raises(IndexUnavailable, match="python -m rag index"):
            VectorStore(settings).open(CONFIG)


class TestEmbeddedStore(StoreContract):
    @pytest.fixture
    def settings(self, tmp_path):
        return make_settings(tmp_path, tmp_path / "fiches")

    def test_corrupt_database_is_a_clear_error(self, tmp_path, settings, store):
        store.upsert([chunk(0)], np.stack([unit(1, 0, 0, 0)]))
        store.commit()
        # a copy never opened by this process (Chroma caches open databases per path)
        copy = make_settings(tmp_path / "copy", settings.corpus_dir)
        shutil.copytree(settings.data_dir, copy.data_dir)
        (copy.data_dir / "chroma" / store.generation / "chroma.sqlite3").write_bytes(b"garbage" * 500)
        with pytest.raises(IndexUnavailable, match="illisible.*index --rebuild"):
            VectorStore(copy).open(CONFIG)

    def test_rebuild_generation_switch_keeps_previous(self, settings, store):
        store.upsert([chunk(0)], np.stack([unit(1, 0, 0, 0)]))
        store.commit()
        first = store.generation
        rebuilt = VectorStore.fresh(settings)
        rebuilt.open(CONFIG, create=True)
        assert VectorStore(settings).generation == first  # not switched before commit
        rebuilt.commit()
        assert VectorStore(settings).generation == rebuilt.generation != first
        assert (settings.data_dir / "chroma" / first).is_dir()  # a running reader may still use it


@pytest.mark.server
class TestServerStore(StoreContract):
    @pytest.fixture
    def settings(self, tmp_path, chroma_server):
        return make_settings(tmp_path, tmp_path / "fiches", chroma_url=chroma_server.url)

    def test_rebuild_is_a_new_collection_switched_by_the_index_record(self, settings, store):
        store.upsert([chunk(0)], np.stack([unit(1, 0, 0, 0)]))
        store.commit({"fingerprint": "a"})
        first = store.meta().record()
        assert (first["generation"], first["previous"], first["fingerprint"]) == (store.generation, None, "a")
        rebuilt = VectorStore.fresh(settings)
        rebuilt.open(CONFIG, create=True)
        assert VectorStore(settings).meta().record() == first  # not switched before commit
        assert VectorStore(settings).open(CONFIG).count() == 1
        rebuilt.commit({"fingerprint": "b"})
        second = store.meta().record()
        assert (second["generation"], second["previous"]) == (rebuilt.generation, store.generation)
        assert second["run"] != first["run"] and VectorStore(settings).open(CONFIG).count() == 0
        assert store.count() == 1  # a reader still on the previous generation
        third = VectorStore.fresh(settings)
        third.open(CONFIG, create=True)
        third.commit()
        with pytest.raises(IndexUnavailable, match="aucun index"):  # two generations back: deleted
            store.count()

    def test_server_down_then_back(self, tmp_path):
        server = ChromaServer(tmp_path / "own-server").start()
        try:
            settings = make_settings(tmp_path, tmp_path / "fiches", chroma_url=server.url)
            store = VectorStore(settings)
            store.open(CONFIG, create=True)
            store.upsert([chunk(0)], np.stack([unit(1, 0, 0, 0)]))
            server.stop()
            with pytest.raises(StoreUnavailable, match=rf"{server.url}.*chroma run"):
                store.query(unit(1, 0, 0, 0), 3)
            with pytest.raises(StoreUnavailable):
                VectorStore(settings).open(CONFIG)
            server.start()
            assert [i for i, _ in store.query(unit(1, 0, 0, 0), 3)] == ["f::s::0"]
        finally:
            server.stop()
