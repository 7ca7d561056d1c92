"""The vector store: one Chroma collection of chunk vectors, embedded or on a server.

``PersistentClient`` under ``DATA_DIR/chroma/<generation>`` by default, ``HttpClient``
when ``RAG_CHROMA_URL`` is set, through the same code. Vectors are always computed by
our embedder and passed explicitly: the collection is created with
``embedding_function=None``, so Chroma's default (downloading) model is never used.
The collection metadata records the embedder config; opening it with another embedder
raises :class:`EmbedderMismatch`. Chroma failures become one readable error.

Generations make ``index --rebuild`` atomic for readers: a rebuild fills a new
generation and only then switches the pointer; the previous generation is kept (a
running reader may still use it), older ones deleted. Embedded, a generation is a
directory and the pointer the small ``CURRENT`` file (``os.replace``). On a server, a
generation is the collection ``<RAG_COLLECTION>-<generation>`` and the pointer the index
record of the meta collection (:mod:`rag.index.meta`), written by :meth:`VectorStore.commit`
with the run's manifest in one upsert.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Settings
from rag.errors import ConfigError, EmbedderMismatch, IndexUnavailable
from rag.index.chroma import REBUILD, ChromaConnection, column, read_all
from rag.index.fiche_store import fiches_name
from rag.index.files import remove_except, write_json_atomic
from rag.index.meta import RECORD, IndexMeta
from rag.types import Chunk

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

_RESERVED = ("fiche_id", "title", "section", "content_hash")
"""Metadata keys we add to each vector besides the chunk's own metadata."""

PAGE = 5000
"""Records read or deleted per Chroma call."""


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
        raise IndexUnavailable(f"pointeur d'index corrompu {_pointer(data_dir)} ({exc}) : {REBUILD}") from None


def new_generation() -> str:
    return uuid.uuid4().hex[:12]


class VectorStore:
    """Thread-safe wrapper of one collection. ``generation`` picks the generation
    (default: the current one, read from the pointer; on a server, when first opened)."""

    def __init__(self, settings: Settings, generation: str | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,450}[A-Za-z0-9]", settings.collection):
            raise ConfigError(f"nom de collection invalide « {settings.collection} » (RAG_COLLECTION) : "
                              "3 à 452 caractères parmi lettres, chiffres, . _ -")
        self.settings = settings
        self.url = settings.chroma_url
        self.generation = generation if self.url else generation or read_generations(settings.data_dir)["current"]
        self._lock = threading.Lock()
        self._connection: ChromaConnection | None = None
        self._collection: Collection | None = None

    @property
    def name(self) -> str:
        """The Chroma collection: ``RAG_COLLECTION`` in its own directory (embedded), or
        ``RAG_COLLECTION-<generation>`` (server)."""
        return f"{self.settings.collection}-{self.generation}" if self.url else self.settings.collection

    @property
    def target(self) -> str:
        """Where the vectors live: the embedded client's path, and the location named in
        error messages (the index manifest records :func:`rag.index.indexing.store_target`)."""
        if self.url:
            return f"{self.url} (collection {self.name})"
        return str(self.settings.data_dir / "chroma" / str(self.generation))

    @property
    def connection(self) -> ChromaConnection:
        """The Chroma connection (one client per store; the meta and fiches collections
        of a server share it)."""
        if self._connection is None:
            self._connection = ChromaConnection(self.url, None if self.url else self.target)
        return self._connection

    def meta(self) -> IndexMeta:
        """The server's meta collection (index record, lease)."""
        return IndexMeta(self.connection, self.settings.collection)

    def open(self, embedder_config: dict, create: bool = False) -> Collection:
        """The collection, checked against ``embedder_config``; created if ``create``."""
        if self._collection is not None:
            return self._collection
        if self.generation is None and self.url:
            self.generation = (self.meta().record() or {}).get("generation")
        if self.generation is None:
            if not create:
                where = f"{self.url} (collection {self.settings.collection})" if self.url else self.settings.data_dir
                raise IndexUnavailable(f"aucun index dans {where} : lancez `python -m rag index`")
            self.generation = new_generation()
        client = self.connection.client()
        with self._lock, self.connection.errors(self.target):
            if create:
                collection = client.get_or_create_collection(
                    self.name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=dict(embedder_config),
                )
            else:
                collection = client.get_collection(self.name, embedding_function=None)
            _check_embedder(collection.metadata or {}, embedder_config, replica=bool(self.url) and not create)
            self._collection = collection
            return collection

    @property
    def _opened(self) -> Collection:
        if self._collection is None:
            raise IndexUnavailable(f"aucun index à {self.target} : lancez `python -m rag index`")
        return self._collection

    def _pages(self, include: list[str], page: int) -> dict[str, tuple[str | None, dict | None]]:
        """Every record id -> (document, metadata), read ``page`` records per call."""
        with self.connection.errors(self.target):
            return {i: (d, m) for i, d, m in read_all(self._opened, include, page)}

    def hashes(self, page: int = PAGE) -> dict[str, str]:
        """Every stored chunk id -> its content hash (paged reads)."""
        return {i: str((m or {}).get("content_hash", "")) for i, (_, m) in self._pages(["metadatas"], page).items()}

    def chunks(self, page: int = 1000) -> list[Chunk]:
        """Every stored chunk, in id order (a replica builds its BM25 index from them).
        Pages of 1000: the server spends less CPU than on larger ones (measured at 10k)."""
        found = self._pages(["documents", "metadatas"], page)
        return [_to_chunk(i, *found[i]) for i in sorted(found)]

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Insert or replace chunks with their vectors."""
        if not chunks:
            return
        metadatas: list[Any] = [{**c.metadata, "fiche_id": c.fiche_id, "title": c.title, "section": c.section,
                                  "content_hash": c.content_hash} for c in chunks]
        with self.connection.errors(self.target):
            self._opened.upsert(
                ids=[c.id for c in chunks], embeddings=vectors, documents=[c.text for c in chunks], metadatas=metadatas
            )

    def delete(self, ids: list[str]) -> None:
        """Remove chunks by id."""
        with self.connection.errors(self.target):
            for start in range(0, len(ids), PAGE):
                self._opened.delete(ids=ids[start : start + PAGE])

    def count(self) -> int:
        """Number of stored chunks."""
        with self.connection.errors(self.target):
            return self._opened.count()

    def query(self, vector: np.ndarray, n: int, ids: list[str] | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``n`` nearest chunks, optionally among
        ``ids`` (much faster in Chroma than a metadata ``where``). Only ids and distances
        are read (5x faster than with the documents): the caller resolves chunks from
        the BM25 index, or with :meth:`get`."""
        if ids is not None and not ids:
            return []
        with self.connection.errors(self.target):
            result = self._opened.query(query_embeddings=[vector], n_results=n, ids=ids, include=["distances"])
        distances = result["distances"] or [[]]
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], distances[0], strict=True)]

    def get(self, ids: list[str]) -> list[Chunk]:
        """The stored chunks with these ids (unknown ids are left out)."""
        if not ids:
            return []
        with self.connection.errors(self.target):
            result = self._opened.get(ids=ids, include=["documents", "metadatas"])
        rows = zip(result["ids"], column(result, "documents"), column(result, "metadatas"), strict=True)
        return [_to_chunk(i, d, m) for i, d, m in rows]

    @classmethod
    def fresh(cls, settings: Settings) -> VectorStore:
        """An empty store to rebuild into: a new generation, switched in by :meth:`commit`
        (the current one is not even opened: it may be corrupt)."""
        return cls(settings, generation=new_generation())

    def commit(self, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
        """Make this generation the current one (atomic), keep the previous, delete the rest.
        Call with the indexing lock (server: lease) held. On a server, ``manifest`` (the
        run's record) is published with the pointer and its ``run`` id (a new one unless
        the manifest names it: the BM25 blob written for it), in one write, and the record
        it replaced is returned (embedded: ``{}``)."""
        if self.url:
            return self._commit_server(manifest or {})
        state = read_generations(self.settings.data_dir, strict=False)
        if state["current"] != self.generation:
            state = {"current": self.generation, "previous": state["current"]}
            write_json_atomic(_pointer(self.settings.data_dir), state)
        remove_stale_generations(self.settings.data_dir, keep={self.generation, state["previous"]})
        return {}

    def _commit_server(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = self.meta()
        old = meta.record() or {}
        previous = old.get("generation") if old.get("generation") != self.generation else old.get("previous")
        meta.put(RECORD, {**manifest, "generation": self.generation, "previous": previous,
                          "run": manifest.get("run") or uuid.uuid4().hex, "indexed_at": time.time()})
        self.remove_stale_collections(keep={self.generation, previous})
        return old

    def remove_stale_collections(self, keep: set[str | None]) -> None:
        """Delete this collection's generations (chunks and fiches) not in ``keep``:
        older generations and leftovers of interrupted rebuilds (server mode)."""
        pattern = re.compile(rf"{re.escape(self.settings.collection)}-([0-9a-f]{{12}})(?:-fiches)?")
        client = self.connection.client()
        with self.connection.errors(self.url or ""):
            for collection in client.list_collections():
                found = pattern.fullmatch(collection.name)
                if found and found.group(1) not in keep:
                    client.delete_collection(collection.name)

    def fiches_name(self) -> str:
        """The server collection holding this generation's fiches."""
        return fiches_name(self.settings.collection, str(self.generation))


def remove_stale_generations(data_dir: Path, keep: set[str | None]) -> None:
    """Delete generation directories not in ``keep`` (leftovers of interrupted rebuilds)."""
    remove_except(data_dir / "chroma", keep)


def _check_embedder(stored: dict, wanted: dict, replica: bool = False) -> None:
    """Raise :class:`EmbedderMismatch` when the index was built with other vectors. A
    replica reading a server's index is told to take the index job's embedder: a rebuild
    there would change the index every other replica serves."""
    if any(str(stored.get(k)) != str(v) for k, v in wanted.items()):
        built = ", ".join(f"{k}={stored.get(k)}" for k in wanted)
        says = ", ".join(f"{k}={v}" for k, v in wanted.items())
        fix = REBUILD
        if replica:
            fix = (f"réglez RAG_EMBEDDER={stored.get('embedder')} comme pour l'indexation (et le même "
                   "RAG_EMBEDDER_MODEL_PATH s'il y en a un), ou, pour changer d'embedder, lancez "
                   "`python -m rag index --rebuild` avec le nouveau sur la machine du corpus, puis "
                   "réglez toutes les répliques comme lui")
        raise EmbedderMismatch(f"index construit avec {built}, les réglages demandent {says} : {fix}")


def _to_chunk(chunk_id: str, text: str | None, meta: dict | None) -> Chunk:
    """Rebuild a chunk from what Chroma returns."""
    meta = dict(meta or {})
    fields = {k: str(meta.pop(k, "")) for k in _RESERVED}
    fields.pop("content_hash")
    return Chunk(id=chunk_id, text=text or "", metadata={k: str(v) for k, v in meta.items()}, **fields)
