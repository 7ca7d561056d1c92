"""The index lease: one ``python -m rag index`` at a time per Chroma server and
collection, whatever machine it runs on (a local file lock only guards one data dir).

The lease lives in the meta collection, next to what it protects, so an index run needs
nothing but ``RAG_CHROMA_URL``. Chroma has no transaction, but ``add`` keeps the first of
two records with the same id (checked by ``tests/index/test_lease.py`` with racing
processes): each holder takes a new record ``lease-<epoch>``, epoch = last + 1, and owns
the lease iff its own token reads back. The last epoch is the lease; a takeover (the
last one expired or released) can only write the next epoch, so a holder that stalled
past its expiry cannot overwrite its successor: it finds a newer epoch at its next
renewal and stops with :class:`IndexLocked`. Expiry times are wall-clock (UTC) seconds:
machines sharing a server need synchronised clocks (NTP), as for any lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from rag.errors import IndexLocked, StoreUnavailable
from rag.index.meta import IndexMeta

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""How long a lease lasts without renewal (a crashed run blocks the next one this long)."""

PREFIX = "lease-"


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _epoch(record_id: str) -> int:
    try:
        return int(record_id.removeprefix(PREFIX))
    except ValueError:
        return -1


class Lease:
    """The lease on one meta collection. Use as a context manager: acquired on entry
    (or :class:`IndexLocked`), renewed every ``ttl / 3`` s by a thread, released on exit.
    The run calls :meth:`check` between batches: it raises once the lease is lost."""

    def __init__(self, meta: IndexMeta, ttl: float = LEASE_SECONDS, holder: str | None = None) -> None:
        self.meta = meta
        self.ttl = ttl
        self.holder = holder or f"{socket.gethostname()} (pid {os.getpid()})"
        self.token = uuid.uuid4().hex
        self.record_id: str | None = None
        self.expires = 0.0
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _latest(self) -> tuple[str | None, dict[str, Any]]:
        """The last lease record (id, value), or (None, {}) when there is none."""
        records = self.meta.get_prefixed(PREFIX)
        if not records:
            return None, {}
        last = max(records, key=_epoch)
        return last, records[last]

    def _refused(self, value: dict[str, Any]) -> IndexLocked:
        return IndexLocked(
            f"une indexation est déjà en cours sur {self.meta.connection.url} : bail détenu par "
            f"{value.get('holder', '?')} depuis {_when(float(value.get('since', 0)))}, valable jusqu'à "
            f"{_when(float(value.get('expires', 0)))} ; attendez la fin de cette indexation (si elle a été "
            "interrompue, le bail expire seul à cette heure-là), puis relancez `python -m rag index`"
        )

    def _value(self, since: float) -> dict[str, Any]:
        self.expires = time.time() + self.ttl
        return {"holder": self.holder, "token": self.token, "since": since, "expires": self.expires}

    def acquire(self) -> None:
        """Take the lease, or raise :class:`IndexLocked` naming the holder and expiry."""
        last, value = self._latest()
        if last is not None and float(value.get("expires", 0)) > time.time():
            raise self._refused(value)
        record_id = f"{PREFIX}{_epoch(last) + 1 if last else 1:012d}"
        self.meta.add(record_id, self._value(time.time()))
        won = self.meta.get([record_id]).get(record_id, {})
        if won.get("token") != self.token:
            raise self._refused(won)
        self.record_id = record_id
        older = [i for i in self.meta.ids(PREFIX) if _epoch(i) < _epoch(record_id) - 1]
        self.meta.delete(older)

    def renew(self) -> None:
        """Extend the lease; :class:`IndexLocked` when another run took it over."""
        last, value = self._latest()
        if last is None or last != self.record_id or value.get("token") != self.token:
            raise IndexLocked(
                f"bail d'indexation perdu sur {self.meta.connection.url} (repris par {value.get('holder', '?')}) : "
                "cette indexation s'arrête ; l'index publié reste celui de la dernière indexation complète"
            )
        self.meta.put(last, self._value(float(value.get("since", time.time()))))

    def check(self) -> None:
        """Raise :class:`IndexLocked` if the lease was lost or could not be renewed in time."""
        if self._lost:
            raise IndexLocked(self._lost)
        if time.time() > self.expires:
            raise IndexLocked(f"bail d'indexation expiré sur {self.meta.connection.url} (non renouvelé à temps) : "
                              "cette indexation s'arrête ; relancez `python -m rag index`")

    def release(self) -> None:
        """Give the lease back (expiry now), if we still hold it."""
        last, value = self._latest()
        if last is not None and last == self.record_id and value.get("token") == self.token:
            self.meta.put(last, {**value, "expires": 0.0})

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except IndexLocked as exc:
                self._lost = str(exc)
                return
            except StoreUnavailable as exc:  # the run itself fails on it too; retry meanwhile
                log.warning("renouvellement du bail impossible : %s", exc)

    def __enter__(self) -> Lease:
        self.acquire()
        self._thread = threading.Thread(target=self._renew_loop, name="index-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)  # a renewal stuck on a dead server is a daemon
        try:
            self.release()
        except StoreUnavailable as error:  # the lease then simply expires
            log.warning("bail non rendu (%s) : il expire à %s", error, _when(self.expires))
