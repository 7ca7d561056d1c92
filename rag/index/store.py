"""The vector store: one Chroma collection of chunk vectors, embedded or on a server.

``PersistentClient`` under ``DATA_DIR/chroma/<generation>`` by default, ``HttpClient``
when ``RAG_CHROMA_URL`` is set, through the same code. Vectors are always computed by
our embedder and passed explicitly: the collection is created with
``embedding_function=None``, so Chroma's default (downloading) model is never used.
The collection metadata records the embedder config; opening it with another embedder
raises :class:`EmbedderMismatch`. Chroma failures become one readable error.

Embedded generations make ``index --rebuild`` crash-safe: a rebuild fills a new
directory and only then switches the small ``CURRENT`` pointer file (``os.replace``);
the previous generation is kept (a running app may still read it), older ones deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from rag.config import Settings
from rag.errors import ConfigError, EmbedderMismatch, IndexError_, StoreUnavailable
from rag.index.files import remove_except, write_json_atomic
from rag.types import Chunk

_RESERVED = ("fiche_id", "title", "section", "content_hash")
"""Metadata keys we add to each vector besides the chunk's own metadata."""

REBUILD = "run `python -m rag index --rebuild`"


def _pointer(data_dir: Path) -> Path:
    return data_dir / "chroma" / "CURRENT"


def read_generations(data_dir: Path, strict: bool = True) -> dict[str, str | None]:
    """``{"current": name|None, "previous": name|None}`` from the pointer file; a damaged
    pointer is an error, or (``strict=False``, when rebuilding) counts as none."""
    try:
        state = json.loads(_pointer(data_dir).read_text())
        return {"current": state.get("current"), "previous": state.get("previous")}
    except FileNotFoundError:
        return {"current": None, "previous": None}
    except (ValueError, AttributeError) as exc:
        if not strict:
            return {"current": None, "previous": None}
        raise IndexError_(f"corrupt index pointer {_pointer(data_dir)} ({exc}): {REBUILD}") from None


class VectorStore:
    """Thread-safe wrapper of one collection. ``generation`` picks the embedded directory
    (default: the current one); it is ignored in server mode."""

    def __init__(self, settings: Settings, generation: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", settings.collection):
            raise ConfigError(f"invalid collection name '{settings.collection}' (RAG_COLLECTION): "
                              "3-512 characters among letters, digits, . _ -")
        self.settings = settings
        self.url = settings.chroma_url
        self.generation = None if self.url else generation or read_generations(settings.data_dir)["current"]
        self._lock = threading.Lock()
        self._client = None
        self._collection = None

    @property
    def target(self) -> str:
        """Where the vectors live: the embedded client's path, and the location named in
        error messages (the index manifest records :func:`rag.index.indexing.store_target`)."""
        if self.url:
            return f"{self.url} (collection {self.settings.collection})"
        return str(self.settings.data_dir / "chroma" / str(self.generation))

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn Chroma/transport failures into our errors (server down, corrupt files)."""
        import httpx
        from chromadb.errors import ChromaError

        try:
            yield
        except (httpx.TransportError, ConnectionError, ValueError) as exc:
            if isinstance(exc, ValueError) and "connect" not in str(exc).lower():
                raise  # HttpClient() reports a refused connection as a ValueError
            raise StoreUnavailable(
                f"Chroma server {self.url} unreachable ({exc}): check that `chroma run` is up "
                "and RAG_CHROMA_URL is right"
            ) from None
        except ChromaError as exc:
            if exc.code() == 404 or "does not exist" in str(exc):
                raise IndexError_(f"no index at {self.target}: run `python -m rag index`") from None
            raise IndexError_(f"index at {self.target} is unreadable ({exc}): {REBUILD}") from None

    def _connect(self):
        """The Chroma client (created once; telemetry off)."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.url:
            parsed = urlparse(self.url if "://" in self.url else f"http://{self.url}")
            return chromadb.HttpClient(
                host=parsed.hostname or "localhost",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
        return chromadb.PersistentClient(path=self.target, settings=chroma_settings)

    def open(self, embedder_config: dict, create: bool = False):
        """The collection, checked against ``embedder_config``; created if ``create``."""
        if self._collection is not None:
            return self._collection
        if not self.url and self.generation is None:
            if not create:
                raise IndexError_(f"no index in {self.settings.data_dir}: run `python -m rag index`")
            self.generation = uuid.uuid4().hex[:12]
        with self._lock, self._errors():
            self._client = self._client or self._connect()
            if create:
                collection = self._client.get_or_create_collection(
                    self.settings.collection,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=dict(embedder_config),
                )
            else:
                collection = self._client.get_collection(self.settings.collection, embedding_function=None)
            _check_embedder(collection.metadata or {}, embedder_config)
            self._collection = collection
            return collection

    def hashes(self, page: int = 5000) -> dict[str, str]:
        """Every stored chunk id -> its content hash (paged reads)."""
        found: dict[str, str] = {}
        with self._errors():
            while True:
                batch = self._collection.get(include=["metadatas"], limit=page, offset=len(found))
                found.update((i, (m or {}).get("content_hash", "")) for i, m in zip(batch["ids"], batch["metadatas"]))
                if len(batch["ids"]) < page:
                    return found

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Insert or replace chunks with their vectors."""
        if not chunks:
            return
        metadatas = [
            {**c.metadata, "fiche_id": c.fiche_id, "title": c.title, "section": c.section, "content_hash": c.content_hash}
            for c in chunks
        ]
        with self._errors():
            self._collection.upsert(
                ids=[c.id for c in chunks], embeddings=vectors, documents=[c.text for c in chunks], metadatas=metadatas
            )

    def delete(self, ids: list[str]) -> None:
        """Remove chunks by id."""
        with self._errors():
            for start in range(0, len(ids), 5000):
                self._collection.delete(ids=ids[start : start + 5000])

    def count(self) -> int:
        """Number of stored chunks."""
        with self._errors():
            return self._collection.count()

    def query(self, vector: np.ndarray, n: int, ids: list[str] | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``n`` nearest chunks, optionally among
        ``ids`` (much faster in Chroma than a metadata ``where``). Only ids and distances
        are read (5x faster than with the documents): the caller resolves chunks from
        the BM25 index, or with :meth:`get`."""
        if ids is not None and not ids:
            return []
        with self._errors():
            result = self._collection.query(query_embeddings=[vector], n_results=n, ids=ids, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0])]

    def get(self, ids: list[str]) -> list[Chunk]:
        """The stored chunks with these ids (unknown ids are left out)."""
        if not ids:
            return []
        with self._errors():
            result = self._collection.get(ids=ids, include=["documents", "metadatas"])
        return [_to_chunk(i, d, m) for i, d, m in zip(result["ids"], result["documents"], result["metadatas"])]

    @classmethod
    def fresh(cls, settings: Settings) -> VectorStore:
        """An empty store to rebuild into: a new generation (embedded; the current one is
        not even opened, it may be corrupt), or the collection dropped (server: there a
        rebuild is not atomic)."""
        if not settings.chroma_url:
            return cls(settings, generation=uuid.uuid4().hex[:12])
        store = cls(settings)
        with store._errors():
            client = store._connect()
            if settings.collection in {c.name for c in client.list_collections()}:
                client.delete_collection(settings.collection)
        return store

    def commit(self) -> None:
        """Make this generation the current one (atomic), keep the previous, delete the rest.
        Call with the indexing lock held. No-op in server mode."""
        if self.url:
            return
        state = read_generations(self.settings.data_dir, strict=False)
        if state["current"] != self.generation:
            state = {"current": self.generation, "previous": state["current"]}
            write_json_atomic(_pointer(self.settings.data_dir), state)
        remove_stale_generations(self.settings.data_dir, keep={self.generation, state["previous"]})


def remove_stale_generations(data_dir: Path, keep: set[str | None]) -> None:
    """Delete generation directories not in ``keep`` (leftovers of interrupted rebuilds)."""
    remove_except(data_dir / "chroma", keep)


def _check_embedder(stored: dict, wanted: dict) -> None:
    """Raise :class:`EmbedderMismatch` when the index was built with other vectors."""
    if any(str(stored.get(k)) != str(v) for k, v in wanted.items()):
        built = ", ".join(f"{k}={stored.get(k)}" for k in wanted)
        says = ", ".join(f"{k}={v}" for k, v in wanted.items())
        raise EmbedderMismatch(f"index built with {built}, settings say {says}: {REBUILD}")


def _to_chunk(chunk_id: str, text: str | None, meta: dict | None) -> Chunk:
    """Rebuild a chunk from what Chroma returns."""
    meta = dict(meta or {})
    fields = {k: str(meta.pop(k, "")) for k in _RESERVED}
    fields.pop("content_hash")
    return Chunk(id=chunk_id, text=text or "", metadata={k: str(v) for k, v in meta.items()}, **fields)
