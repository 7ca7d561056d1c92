"""The index lease on a real `chroma run` server: refusal naming the holder and expiry,
takeover after expiry (the stale holder stops), renewal during a long run, and racing
processes (exactly one wins: Chroma's ``add`` keeps the first record of an id)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import IndexLocked
from rag.index.lease import Lease
from rag.index.meta import IndexMeta
from rag.index.store import VectorStore
from tests.support.index_helpers import make_settings

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


@pytest.fixture
def settings(tmp_path, chroma_server):
    return make_settings(tmp_path, tmp_path / "fiches", chroma_url=chroma_server.url)


@pytest.fixture
def meta(settings) -> IndexMeta:
    return VectorStore(settings).meta()


def test_second_holder_is_refused_with_holder_and_expiry_then_gets_it_once_released(meta):
    with Lease(meta, holder="machine-a (pid 1)"):
        with pytest.raises(IndexLocked, match=rf"déjà en cours.*machine-a \(pid 1\) depuis {WHEN}, "
                                              rf"valable jusqu'à {WHEN}"):
            Lease(meta, holder="machine-b").acquire()
    second = Lease(meta, holder="machine-b")
    second.acquire()
    second.check()


def test_expired_lease_is_taken_over_and_the_stale_holder_stops(meta):
    stale = Lease(meta, ttl=0.5, holder="crashed")
    stale.acquire()
    time.sleep(0.7)  # no renewal: as if its process had been killed
    successor = Lease(meta, holder="next")
    successor.acquire()
    with pytest.raises(IndexLocked, match="perdu.*next"):
        stale.renew()
    with pytest.raises(IndexLocked, match="expiré"):
        stale.check()
    stale.release()  # must not free the successor's lease
    with pytest.raises(IndexLocked, match="next"):
        Lease(meta).acquire()


def test_long_run_keeps_its_lease_by_renewal(meta):
    with Lease(meta, ttl=0.6, holder="long run") as lease:
        time.sleep(1.5)  # more than twice the ttl
        lease.check()
        with pytest.raises(IndexLocked, match="long run"):
            Lease(meta).acquire()


_RACER = """
import sys
from rag.config import load_settings
from rag.errors import IndexLocked
from rag.index.lease import Lease
from rag.index.store import VectorStore
meta = VectorStore(load_settings()).meta()
meta.get(["warm-up"])
print("ready", flush=True)
sys.stdin.readline()
try:
    Lease(meta, holder=sys.argv[1]).acquire()
    print("won", flush=True)
except IndexLocked:
    print("refused", flush=True)
"""


def test_racing_processes_exactly_one_wins(settings, meta):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_CHROMA_URL": settings.chroma_url,
           "RAG_COLLECTION": settings.collection, "RAG_DATA_DIR": str(settings.data_dir)}
    for round_ in range(2):
        racers = [subprocess.Popen([sys.executable, "-c", _RACER, f"racer-{round_}-{n}"], env=env, text=True,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE) for n in range(5)]
        try:
            assert all(r.stdout.readline().strip() == "ready" for r in racers)
            for racer in racers:  # all released at once
                racer.stdin.write("go\n")
                racer.stdin.flush()
            outcomes = [r.communicate(timeout=60)[0].strip() for r in racers]
        finally:
            for racer in racers:
                racer.kill()
        assert sorted(outcomes) == ["refused"] * 4 + ["won"], outcomes
        winner = f"racer-{round_}-{outcomes.index('won')}"
        with pytest.raises(IndexLocked, match=winner):
            Lease(meta).acquire()
        last = max(meta.get_prefixed("lease-"))
        meta.put(last, {**meta.get([last])[last], "expires": 0.0})  # the winner's process is gone: free it
