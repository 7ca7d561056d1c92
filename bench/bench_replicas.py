"""Load bench of stateless replicas (a script, not a test): N replica processes against
one `chroma run` server and one PostgreSQL, M concurrent clients asking questions
through the whole pipeline, each client in its own stored conversation (history read,
extractive answer, turn saved); and, in the same run, the embedded single-process
setup (embedded Chroma, SQLite conversations) under the same load.

    .venv/bin/python bench/bench_replicas.py [--replicas 1 2 4] [--clients 16] [--per-client 8]
    .venv/bin/python bench/bench_replicas.py --cold-start 10k 100k     # a replica's index load

Per setup: throughput (questions/s over the wall time), latency p50/p95 per question,
where a question's time goes (embedding the query, Chroma calls, BM25 analysis and
scoring, the conversation database; "other" = the rest of the pipeline and waiting for
the GIL), and the CPU seconds burnt by the replicas, the Chroma server and PostgreSQL.
The clients are split evenly over the replicas (a perfect load balancer). Questions are
the dev set's, each made unique so that no query-vector cache hides the embedding.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import percentile  # noqa: E402

PARTS = ("embedding", "chroma", "bm25", "database")


class Clock:
    """Seconds spent per part by the current thread, wall and CPU (``<part>_cpu``):
    wrapped methods add to them. Wall includes waiting (for a lock, the GIL, a core)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def reset(self) -> dict[str, float]:
        self.local.parts = dict.fromkeys([*PARTS, *(f"{p}_cpu" for p in PARTS)], 0.0)
        return self.local.parts

    def wrap(self, obj: object, method: str, part: str) -> None:
        """Time ``obj.method`` (an instance attribute: our own objects, nothing patched globally)."""
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            with self.timing(part):
                return inner(*args, **kwargs)

        setattr(obj, method, timed)

    @contextlib.contextmanager
    def timing(self, part: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            parts = getattr(self.local, "parts", None)
            if parts is not None:
                parts[part] += time.perf_counter() - start
                parts[f"{part}_cpu"] += time.thread_time() - cpu


def worker(threads: int, per_thread: int) -> None:
    """One replica: warm up, print ``ready``, wait for ``go`` on stdin, run ``threads``
    clients of ``per_thread`` questions each, print one JSON line of samples."""
    from rag.answer.pipeline import ask
    from rag.conversations import LOCAL_USER
    from rag.search.evaluation import load_questions
    from rag.services import Services

    services = Services()
    services.ensure_index()
    questions = [q.q for q in load_questions(ROOT / "eval" / "dev.jsonl")]
    assert ask(questions[0], services).result.sources  # model, index, prompts loaded
    store = services.conversations
    store.history(store.create_conversation(LOCAL_USER).id, LOCAL_USER)  # migrated, pool warm
    clock = Clock()
    clock.wrap(services.embedder, "embed_query", "embedding")
    for method in ("query", "get"):
        clock.wrap(services.store, method, "chroma")
    for method in ("terms", "search_weighted"):
        clock.wrap(services.lexical, method, "bm25")
    samples: list[dict] = []
    pid = os.getpid()

    def client(n: int) -> None:
        conversation = store.create_conversation(LOCAL_USER).id
        for i in range(per_thread):
            question = f"{questions[(n * per_thread + i) % len(questions)]} ({pid}-{n}-{i})"
            parts = clock.reset()
            start, cpu = time.perf_counter(), time.thread_time()
            with clock.timing("database"):
                history = store.history(conversation, LOCAL_USER)
            answer = ask(question, services, history=history[-3:]).result
            with clock.timing("database"):
                store.add_turn(conversation, LOCAL_USER, answer)
            samples.append({"seconds": time.perf_counter() - start, "cpu": time.thread_time() - cpu, **parts})

    print("ready", flush=True)
    sys.stdin.readline()
    begin = time.time()
    pool = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"begin": begin, "end": time.time(), "samples": samples, "rss": _rss_mb()}), flush=True)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process (and its live and reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    total = ticks / os.sysconf("SC_CLK_TCK")
    if children:
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += cpu_seconds(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return total


def run_setup(label: str, env: dict[str, str], replicas: int, clients: int, per_client: int,
              servers: dict[str, tuple[int, bool]]) -> dict:
    """Start the replicas, release them together, gather the samples and CPU figures."""
    threads = clients // replicas
    command = [sys.executable, __file__, "--worker", str(threads), str(per_client)]
    procs = [subprocess.Popen(command, env=env, cwd=ROOT, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
             for _ in range(replicas)]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", f"{label}: a replica failed to start"
    cpu_before = {name: cpu_seconds(pid, children) for name, (pid, children) in servers.items()}
    replica_before = sum(cpu_seconds(p.pid) for p in procs)
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [json.loads(proc.stdout.readline()) for proc in procs]
    cpu = {"replicas": sum(cpu_seconds(p.pid) for p in procs) - replica_before}
    cpu.update({name: cpu_seconds(pid, children) - cpu_before[name] for name, (pid, children) in servers.items()})
    for proc in procs:
        proc.stdin.close()
        proc.wait(60)
    samples = [s for out in outputs for s in out["samples"]]
    wall = max(o["end"] for o in outputs) - min(o["begin"] for o in outputs)
    latencies = [s["seconds"] * 1000 for s in samples]
    def means(suffix: str, total: str) -> dict[str, float]:
        found = {p: round(statistics.mean(s[p + suffix] for s in samples) * 1000, 1) for p in PARTS}
        found["other"] = round(statistics.mean(s[total] for s in samples) * 1000 - sum(found.values()), 1)
        return found

    return {"setup": label, "replicas": replicas, "clients": clients, "questions": len(samples),
            "throughput_qps": round(len(samples) / wall, 2), "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1), "wall_ms_per_question": means("", "seconds"),
            "replica_cpu_ms_per_question": means("_cpu", "cpu"),
            "server_cpu_ms_per_question": {k: round(v * 1000 / len(samples), 1) for k, v in cpu.items()
                                           if k != "replicas"},
            "cpu_s": {k: round(v, 1) for k, v in cpu.items()}, "wall_s": round(wall, 1),
            "replica_peak_rss_mb": max(o["rss"]["VmHWM"] for o in outputs),
            "load_average": round(os.getloadavg()[0], 1)}


def index(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "rag", "index"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def load_bench(args: argparse.Namespace) -> None:
    from tests.servers.postgres import postgres_server
    from tests.support.chroma_server import ChromaServer

    work = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    base.update({"PYTHONPATH": str(ROOT), "RAG_EMBEDDER": args.embedder, "RAG_BACKEND": "extractive",
                 "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"})
    chroma = ChromaServer(work / "chroma").start()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    try:
        with postgres_server(work) as postgres:
            embedded = {**base, "RAG_DATA_DIR": str(work / "embedded")}
            index(embedded)
            print(json.dumps(run_setup("embedded (1 process, embedded Chroma, SQLite)", embedded, 1, args.clients,
                                       args.per_client, {}), ensure_ascii=False), flush=True)
            served = {**base, "RAG_CHROMA_URL": chroma.url, "RAG_DATABASE_URL": postgres.url,
                      "RAG_DATA_DIR": str(work / "indexer")}
            index(served)
            servers = {"chroma": (chroma.process.pid, False), "postgres": (postgres.pid, True)}
            for n in args.replicas:
                env = {**served, "RAG_DATA_DIR": str(work / f"replica-{n}"), "RAG_CORPUS_DIR": str(work / "none")}
                print(json.dumps(run_setup(f"{n} replica(s), Chroma server, PostgreSQL", env, n, args.clients,
                                           args.per_client, servers), ensure_ascii=False), flush=True)
    finally:
        chroma.stop()
        print(f"load average after: {os.getloadavg()}", file=sys.stderr)


def _rss_mb() -> dict[str, float]:
    """Current and peak resident memory of this process (MB)."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: round(int(status[k].split()[0]) / 1024, 1) for k in ("VmRSS", "VmHWM")}


def load_replica(url: str, collection: str, data_dir: str) -> dict:
    """A replica's cold load of the published index, phase by phase (run in a fresh process)."""
    from rag.config import load_settings
    from rag.index.embeddings import get_embedder
    from rag.index.fiche_store import FicheStore
    from rag.index.lexical import LexicalIndex
    from rag.index.lexical_blob import read_blob
    from rag.index.store import VectorStore

    settings = load_settings(chroma_url=url, collection=collection, embedder="hashing", data_dir=data_dir,
                             corpus_dir=Path(data_dir) / "none")
    start = time.perf_counter()
    import chromadb  # noqa: F401 - imported by any replica whatever the index size

    times = {"import_chromadb_s": time.perf_counter() - start}
    before, cpu, last_cpu = _rss_mb(), {}, [time.process_time()]

    def lap(name: str) -> None:
        times[name] = time.perf_counter() - start - sum(times.values())
        cpu[name.replace("_s", "_cpu_s")] = round(time.process_time() - last_cpu[0], 2)
        last_cpu[0] = time.process_time()

    record = VectorStore(settings).meta().record()
    store = VectorStore(settings, generation=record["generation"])
    store.open(get_embedder("hashing").config())
    lap("connect_s")
    fetched = read_blob(store.meta(), record)  # the BM25 the index job stored (None: an old index)
    lap("fetch_bm25_blob_s")
    lexical = fetched
    if lexical is None:
        lexical = LexicalIndex.build(store.chunks(), record["fingerprint"])
        lap("read_chunks_and_bm25_build_s")
    fiches = FicheStore(store.connection, store.fiches_name()).load()
    lap("read_fiches_s")
    times["index_load_s"] = sum(v for k, v in times.items() if k != "import_chromadb_s")
    after = _rss_mb()
    return {"chunks": len(lexical.chunks), "fiches": len(fiches), "bm25_from": "blob" if fetched else "collection",
            "blob_parts": record.get("lexical_parts"),
            **{k: round(v, 2) for k, v in times.items()}, **cpu,
            "rss_before_mb": before["VmRSS"], "rss_after_mb": after["VmRSS"], "peak_rss_mb": after["VmHWM"]}


def cold_start(scales: list[str]) -> None:
    """Index synthetic catalogues into a Chroma server (hashing embedder), then time a
    fresh process loading each as a replica does."""
    import random

    from bench_retrieval import SCALES, synthetic

    from rag.catalogue.corpus import write_fiches
    from rag.catalogue.importer import import_export
    from rag.config import load_settings
    from rag.index.chunking import chunk_corpus
    from rag.index.indexing import index_corpus
    from tests.support.chroma_server import ChromaServer

    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    chroma = ChromaServer(work / "chroma").start()
    try:
        seed = import_export(ROOT / "corpus/raw/000_d9e11f9bb21b0018.txt", work / "seed",
                             ROOT / "corpus/denylist.txt").fiches
        per_fiche = len(chunk_corpus(seed, 150)) / len(seed)
        for scale in scales:
            fiches = seed + synthetic(seed, SCALES[scale], per_fiche, random.Random(7)) if SCALES[scale] else seed
            write_fiches(fiches, work / scale)
            settings = load_settings(chroma_url=chroma.url, collection=f"cold{scale}", embedder="hashing",
                                     corpus_dir=work / scale, data_dir=work / f"data-{scale}")
            start = time.perf_counter()
            index_corpus(settings)
            indexed = time.perf_counter() - start
            server_cpu = cpu_seconds(chroma.process.pid)
            done = subprocess.run([sys.executable, __file__, "--load", chroma.url, f"cold{scale}", str(work / "r")],
                                  capture_output=True, text=True, cwd=ROOT)
            assert done.returncode == 0, done.stderr
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            figures["chroma_server_cpu_s"] = round(cpu_seconds(chroma.process.pid) - server_cpu, 2)
            print(json.dumps({"scale": scale, "index_s": round(indexed, 1), **figures,
                              "load_average": os.getloadavg()[0]}), flush=True)
    finally:
        chroma.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=16, help="concurrent questions (M)")
    parser.add_argument("--per-client", type=int, default=8, help="questions asked by each client")
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--cold-start", nargs="+", choices=["seed", "10k", "100k"], default=None)
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
    elif args.load:
        print(json.dumps(load_replica(*args.load)))
    elif args.cold_start:
        cold_start(args.cold_start)
    else:
        load_bench(args)


if __name__ == "__main__":
    main()
