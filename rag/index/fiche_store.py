"""The catalogue on a Chroma server: one record per fiche in the collection
``<RAG_COLLECTION>-<generation>-fiches`` (id = fiche id, document = the fiche's JSON,
metadata = its hash), so that a replica needs no corpus folder.

JSON rather than the Markdown file: it is the fiche's public shape (``import --json``),
lossless, and parses 25x faster than the Markdown with its YAML front matter (1 260 fiches:
0.05 s against 1.2 s of CPU), which matters for a replica that loads them at start.
The dummy 1-d vector is there because Chroma requires one.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from rag.catalogue.fiche import Fiche
from rag.index.chroma import ChromaConnection, dummy_vectors, read_all

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

PAGE = 2000


def fiches_name(collection: str, generation: str) -> str:
    """The fiches collection of one generation."""
    return f"{collection}-{generation}-fiches"


def _hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()[:32]


class FicheStore:
    """Read and sync the fiches collection of one generation."""

    def __init__(self, connection: ChromaConnection, name: str) -> None:
        self.connection = connection
        self.name = name
        self._collection: Collection | None = None

    @property
    def target(self) -> str:
        return f"{self.connection.url} (collection {self.name})"

    def _open(self, create: bool = False) -> Collection:
        if self._collection is None:
            client = self.connection.client()
            with self.connection.errors(self.target):
                self._collection = (client.get_or_create_collection(self.name, embedding_function=None) if create
                                    else client.get_collection(self.name, embedding_function=None))
        return self._collection

    def _pages(self, include: list[str]) -> list[tuple[str, str | None, dict | None]]:
        """Every record (id, document, metadata), read page by page."""
        collection = self._open()
        with self.connection.errors(self.target):
            return read_all(collection, include, PAGE)

    def sync(self, fiches: list[Fiche], remove: bool) -> int:
        """Write the new and changed fiches (returns how many); with ``remove``, delete
        those not in ``fiches``. An index run writes first and removes last, so a replica
        loading meanwhile has every fiche its chunks name."""
        self._open(create=True)
        stored = {i: (m or {}).get("hash") for i, _, m in self._pages(["metadatas"])}
        documents = {f.id: f.model_dump_json() for f in fiches}
        todo = [i for i, d in documents.items() if stored.get(i) != _hash(d)]
        collection = self._open()
        with self.connection.errors(self.target):
            for start in range(0, len(todo), PAGE):
                ids = todo[start : start + PAGE]
                collection.upsert(ids=ids, embeddings=dummy_vectors(len(ids)), documents=[documents[i] for i in ids],
                                  metadatas=[{"hash": _hash(documents[i])} for i in ids])
            gone = sorted(stored.keys() - documents.keys()) if remove else []
            for start in range(0, len(gone), PAGE):
                collection.delete(ids=gone[start : start + PAGE])
        return len(todo)

    def load(self) -> list[Fiche]:
        """Every fiche, in id order."""
        rows = self._pages(["documents"])
        return sorted((Fiche.model_validate_json(d or "{}") for _, d, _ in rows), key=lambda f: f.id)
