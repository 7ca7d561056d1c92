"""The meta collection ``<RAG_COLLECTION>-meta`` of a Chroma server: what replicas and
index runs on other machines share besides the vectors.

Records (the document is JSON; the vector a 1-d zero, Chroma requires one):

- ``index``: the index record — current and previous generation (the chunk and fiche
  collections ``<RAG_COLLECTION>-<generation>[-fiches]``), ``run`` (a new id for every
  completed run that changed something: what replicas watch), corpus fingerprint,
  embedder config, counts, time. Written in one upsert: the switch is atomic.
- ``dirty``: present while a run is changing the store (the next run then diffs the
  store instead of trusting the record, as ``index.dirty`` does in embedded mode).
- ``lease-<epoch>``: the index lease (:mod:`rag.index.lease`).
- ``lexical-<run>-<n>``: the BM25 index of a run, in parts (:mod:`rag.index.lexical_blob`).

Readers never create the collection; a missing one means "no index yet".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rag.index.chroma import ChromaConnection, dummy_vectors

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

RECORD = "index"
DIRTY = "dirty"


def meta_name(collection: str) -> str:
    """The meta collection of the logical collection ``collection``."""
    return f"{collection}-meta"


class IndexMeta:
    """Read and write the records of one meta collection (thread-safe: stateless but
    for the cached collection handle)."""

    def __init__(self, connection: ChromaConnection, collection: str) -> None:
        self.connection = connection
        self.name = meta_name(collection)
        self._collection: Collection | None = None

    @property
    def target(self) -> str:
        return f"{self.connection.url} (collection {self.name})"

    def _open(self, create: bool) -> Collection | None:
        """The collection (created if ``create``), or None when it does not exist."""
        if self._collection is not None:
            return self._collection
        from chromadb.errors import NotFoundError

        client = self.connection.client()
        with self.connection.errors(self.target):
            try:
                if create:
                    self._collection = client.get_or_create_collection(self.name, embedding_function=None)
                else:
                    self._collection = client.get_collection(self.name, embedding_function=None)
            except NotFoundError:
                return None
        return self._collection

    def get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Records by id -> their JSON document (unknown ids left out)."""
        return self._read(lambda c: c.get(ids=ids, include=["documents"]))

    def get_prefixed(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every record whose id starts with ``prefix`` (the lease records: a handful).
        Ids first, then those documents: the BM25 blobs (MBs) are never read for it."""
        ids = self.ids(prefix)
        return self.get(ids) if ids else {}

    def ids(self, prefix: str) -> list[str]:
        """The ids of the records whose id starts with ``prefix`` (no document read)."""
        found = self._query(lambda c: c.get(include=[]))
        return [i for i in found["ids"] if i.startswith(prefix)] if found else []

    def _read(self, query: Any) -> dict[str, dict[str, Any]]:
        """``query``'s records -> their JSON document."""
        result = self._query(query)
        if result is None:
            return {}
        return {i: _loads(d) for i, d in zip(result["ids"], result["documents"] or [], strict=True)}

    def _query(self, query: Any) -> Any:
        """``query(collection)``'s result, or None when the collection does not exist.
        A handle to a collection deleted (and maybe recreated) since it was opened is
        reopened once, for every reader alike."""
        from chromadb.errors import NotFoundError

        for _attempt in range(2):
            collection = self._open(create=False)
            if collection is None:
                return None
            with self.connection.errors(self.target):
                try:
                    return query(collection)
                except NotFoundError:
                    self._collection = None
        return None

    def add(self, record_id: str, value: dict[str, Any]) -> None:
        """Insert ``record_id`` unless it exists (Chroma keeps the first of two adds: the
        one compare-and-set it offers, used by the lease)."""
        collection = self._open(create=True)
        assert collection is not None
        with self.connection.errors(self.target):
            collection.add(ids=[record_id], embeddings=dummy_vectors(1), documents=[json.dumps(value)])

    def put(self, record_id: str, value: dict[str, Any]) -> None:
        """Insert or replace one record."""
        collection = self._open(create=True)
        assert collection is not None
        with self.connection.errors(self.target):
            collection.upsert(ids=[record_id], embeddings=dummy_vectors(1), documents=[json.dumps(value)])

    def delete(self, ids: list[str]) -> None:
        """Remove records (missing ones ignored)."""
        collection = self._open(create=False)
        if collection is not None and ids:
            with self.connection.errors(self.target):
                collection.delete(ids=ids)

    def record(self) -> dict[str, Any] | None:
        """The index record, or None when nothing was ever indexed on this server."""
        return self.get([RECORD]).get(RECORD) or None

    def record_unless_dirty(self) -> dict[str, Any] | None:
        """The index record, or None when there is none or a run left the store dirty
        (marked while changing it): both in one read."""
        found = self.get([RECORD, DIRTY])
        return None if DIRTY in found else found.get(RECORD) or None


def _loads(document: str | None) -> dict[str, Any]:
    """A record's JSON document (a damaged one reads as empty: treated as missing)."""
    try:
        value = json.loads(document or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
