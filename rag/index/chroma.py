"""One connection to Chroma (embedded folder or ``chroma run`` server) and the mapping of
its failures to our errors, shared by the vector store, the fiches collection and the
meta collection (index record, lease), so that a server that went away reads the same
everywhere and a client is created once per process and target.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from rag.errors import IndexUnavailable, StoreUnavailable

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

REBUILD = "lancez `python -m rag index --rebuild`"


def column(result: Mapping[str, Any], key: str) -> list[Any]:
    """One field of a Chroma ``get`` result, one entry per id (None when not included)."""
    return list(result.get(key) or [None] * len(result["ids"]))


def read_all(collection: Any, include: list[str], page: int) -> list[tuple[str, Any, Any]]:
    """Every record ``(id, document, metadata)`` of ``collection``, read ``page`` records
    per call (one unbounded ``get`` of a large collection is refused by a server)."""
    rows: list[tuple[str, Any, Any]] = []
    while True:
        batch = collection.get(include=include, limit=page, offset=len(rows))
        rows.extend(zip(batch["ids"], column(batch, "documents"), column(batch, "metadatas"), strict=True))
        if len(batch["ids"]) < page:
            return rows


def dummy_vectors(n: int) -> Any:
    """``n`` 1-d zero vectors: records that are not searched (fiches, meta) need one."""
    import numpy as np

    return np.zeros((n, 1), dtype=np.float32)


def release_embedded() -> None:
    """Forget chromadb's per-process handles on embedded folders, so that the next
    client of a folder opens it afresh: sees another process's writes, and retries a
    folder whose opening failed (``ChromaConnection`` remembers that failure until
    then). Clients already made keep their handle: in-flight queries finish on it.
    Process-wide: chromadb has no public way to release one folder's handle."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


class ChromaConnection:
    """A lazily created Chroma client: ``HttpClient`` for ``url``, else a
    ``PersistentClient`` on ``path`` (telemetry off). Thread-safe."""

    def __init__(self, url: str | None, path: str | None = None) -> None:
        self.url = url
        self.path = path
        self._client: ClientAPI | None = None
        self._failed: IndexUnavailable | None = None
        self._lock = threading.Lock()

    def client(self) -> ClientAPI:
        """The client (connects on first use; a server down raises StoreUnavailable).
        A folder that failed to open (damaged) fails the same way on every later call:
        chromadb keeps the half-opened folder in its process-wide cache, and a second
        attempt would raise an unrelated ``AttributeError`` (a new connection, after
        :func:`release_embedded`, opens it again). A server is retried."""
        with self._lock:
            if self._failed is not None:
                raise type(self._failed)(str(self._failed))
            if self._client is None:
                try:
                    with self.errors(self.url or str(self.path)):
                        self._client = self._connect()
                except IndexUnavailable as exc:
                    if not self.url:
                        self._failed = exc
                    raise
            return self._client

    def _connect(self) -> ClientAPI:
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
        return chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)

    @contextlib.contextmanager
    def errors(self, target: str) -> Iterator[None]:
        """Turn Chroma/transport failures into our errors: the server down (a French
        message naming it), a missing or unreadable collection (``target``)."""
        import httpx
        from chromadb.errors import ChromaError

        try:
            yield
        except (httpx.TransportError, ConnectionError, ValueError) as exc:
            if isinstance(exc, ValueError) and "connect" not in str(exc).lower():
                raise  # HttpClient() reports a refused connection as a ValueError
            raise StoreUnavailable(
                f"serveur Chroma {self.url} injoignable ({exc}) : vérifiez que `chroma run` tourne "
                "et que RAG_CHROMA_URL est juste ; les réponses reprennent dès son retour"
            ) from None
        except ChromaError as exc:
            if exc.code() == 404 or "does not exist" in str(exc):
                raise IndexUnavailable(f"aucun index à {target} : lancez `python -m rag index`") from None
            raise IndexUnavailable(f"index illisible à {target} ({exc}) : {REBUILD}") from None
