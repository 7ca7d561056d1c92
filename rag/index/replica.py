"""A replica's view of the index on a Chroma server: everything it serves comes from the
server (no corpus folder, nothing in the data dir), and follows re-indexing done on
other machines.

:func:`load_server_index` reads the published generation: the BM25 index the index job
stored for the record's run (:mod:`rag.index.lexical_blob`; rebuilt in memory from the
chunk collection's documents and metadata when it is missing or damaged), the fiches
collection.
:class:`LiveIndex` holds what a process built from it and rebuilds it when the index
record's ``run`` changes, checking the record (one small read) at most every
``RAG_INDEX_CHECK_SECONDS``, never per query. The check and the rebuild run in a
background thread of their own, started by the first load, whether or not requests come
(an idle replica must not answer its next request from an index replaced meanwhile, nor
from a generation two rebuilds have deleted); every request keeps answering on the
previous objects (no request waits for a BM25 build); the new ones are swapped in with
one assignment, so a request holding the old ones finishes on them (their generation is
kept on the server until the next rebuild). Only the first load, at start, is waited
for; it uses the record start-up's check just read (:meth:`LiveIndex.offer`) instead of
reading it again.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rag.catalogue.fiche import Fiche
from rag.config import Settings
from rag.errors import IndexUnavailable, RagError
from rag.index.fiche_store import FicheStore
from rag.index.lexical import LexicalIndex
from rag.index.lexical_blob import read_blob
from rag.index.meta import IndexMeta
from rag.index.store import VectorStore

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_WAIT = 0.05
"""Seconds between two checks at least (``RAG_INDEX_CHECK_SECONDS=0``: no busy loop)."""


@dataclass(frozen=True)
class ServerIndex:
    """One published index state, loaded: the store pinned to its generation, the BM25
    index of its chunks and its fiches."""

    store: VectorStore
    lexical: LexicalIndex
    fiches: list[Fiche]


def no_index(meta: IndexMeta) -> IndexUnavailable:
    return IndexUnavailable(
        f"aucun index publié sur le serveur Chroma {meta.target} : lancez `python -m rag index` "
        "sur une machine qui a le dossier du corpus (RAG_CORPUS_DIR) et le même RAG_CHROMA_URL"
    )


def load_server_index(settings: Settings, record: dict[str, Any], embedder_config: dict) -> ServerIndex:
    """Load the generation ``record`` names (checked against our embedder)."""
    store = VectorStore(settings, generation=str(record["generation"]))
    store.open(embedder_config)
    lexical = read_blob(store.meta(), record) or LexicalIndex.build(store.chunks(), str(record.get("fingerprint", "")))
    fiches = FicheStore(store.connection, store.fiches_name()).load()
    return ServerIndex(store, lexical, fiches)


class LiveIndex(Generic[T]):
    """The value ``build(record)`` made from the server's current index record, rebuilt
    when the record's ``run`` changes (see module doc). Thread-safe."""

    def __init__(self, meta: IndexMeta, build: Callable[[dict[str, Any]], T], interval: float) -> None:
        self.meta = meta
        self.interval = interval
        self._build = build
        self._current: tuple[str, T] | None = None
        self._offered: tuple[float, dict[str, Any]] | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._failing = False  # the last check failed: logged once per outage, not every interval

    @property
    def run(self) -> str | None:
        """The run id of the value held (None before the first load)."""
        return self._current[0] if self._current else None

    def get(self) -> T:
        """The value for the latest index run this process has seen."""
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    self._current = self._load(self._first_record())
                    threading.Thread(target=_watch, args=(weakref.ref(self),), name="index-watch",
                                     daemon=True).start()
                return self._current[1]
        return current[1]

    def offer(self, record: dict[str, Any]) -> None:
        """A record the caller has just read (start-up's check that an index is
        published): the first load uses it instead of reading it again, if it comes
        within ``interval``, the age a check's result is trusted for anyway."""
        self._offered = (time.monotonic() + self.interval, record)

    def _first_record(self) -> dict[str, Any] | None:
        """The record offered, while it is fresh; else the one on the server now."""
        offered, self._offered = self._offered, None
        if offered is not None and time.monotonic() < offered[0]:
            return offered[1]
        return self.meta.record()

    def _load(self, record: dict[str, Any] | None) -> tuple[str, T]:
        if not record or "generation" not in record:
            raise no_index(self.meta)
        value = self._build(record)
        self._next_check = time.monotonic() + self.interval
        return str(record.get("run", "")), value

    def _check_if_due(self) -> float:
        """Check the record if the interval has passed (and no check runs); the seconds
        to wait before the next call."""
        wait = self._next_check - time.monotonic()
        if wait <= 0 and self._current is not None and self._lock.acquire(blocking=False):
            self._next_check = time.monotonic() + self.interval
            self._refresh(self._current[0])
            wait = self.interval
        return max(wait, MIN_WAIT)

    def _refresh(self, run: str) -> None:
        """In the watch thread, holding the lock: check the record, load the new run
        if it changed. A server that is down or an index being replaced keeps the
        current value (queries report the server's state themselves); the next check
        tries again (the failure is logged once, and the recovery)."""
        try:
            record = self.meta.record()
            if self._failing:
                self._failing = False
                log.info("index du serveur de nouveau lisible")
            if record and record.get("run") != run:
                started = time.perf_counter()
                self._current = self._load(record)
                log.info("index run %s loaded in %.1f s", record.get("run"), time.perf_counter() - started)
        except RagError as exc:
            if not self._failing:
                log.warning("index du serveur non rechargé (%s) : nouvel essai toutes les %g s", exc, self.interval)
            self._failing = True
        except Exception:  # a bug must not leave the lock held: logged, retried at the next check
            log.exception("index du serveur non rechargé")
        finally:
            self._lock.release()


def _watch(ref: weakref.ref[LiveIndex[Any]]) -> None:
    """The watch thread of one :class:`LiveIndex`: checks its record every interval, with
    or without requests; it holds the index only weakly and ends once the index is gone."""
    while (live := ref()) is not None:
        wait = live._check_if_due()
        del live
        time.sleep(wait)
