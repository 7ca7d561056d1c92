"""Load test of ``python -m rag serve``: concurrent streaming chat completions.

Starts the real server (a subprocess on 127.0.0.1, extractive backend, a fresh data
dir), then for each concurrency level runs that many clients at once, each asking
``--requests`` streamed questions in a row (covered questions of ``eval/dev.jsonl``),
while a prober GETs ``/health`` every 50 ms. Per level: time to first token (first
content delta) p50/p95, whole-answer time p50/p95, throughput (answers/s), errors (a
non-200, an error event, or a stream without sources or ``[DONE]``), and ``/health``
latency p50/p95/max while streaming (target: < 100 ms).

    .venv/bin/python bench/bench_api.py [--levels 16 32 64] [--requests 4] [--embedder use] [--json]

All traffic stays on the loopback interface; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import percentile  # noqa: E402

from rag.config import ROOT  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402
from tests.support.chroma_server import free_port  # noqa: E402


def start_server(embedder: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=tempfile.mkdtemp(prefix="bench-api-"), RAG_EMBEDDER=embedder, RAG_BACKEND="extractive")
    return subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env, stderr=subprocess.DEVNULL)


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 300) -> float:
    """Seconds until ``/ready`` says ready (index built, model loaded)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready in time")


async def one_answer(client: httpx.AsyncClient, url: str, question: str) -> dict:
    """Stream one answer: TTFT, total time, and whether it ended well."""
    body = {"model": "fiches-extractive", "stream": True, "messages": [{"role": "user", "content": question}]}
    start = time.perf_counter()
    first = None
    events: list[str] = []
    try:
        async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                return {"ok": False, "why": f"HTTP {response.status_code}"}
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                events.append(line[6:])
                if first is None and events[-1] != "[DONE]" and json.loads(events[-1]).get("choices", [{}])[0] \
                        .get("delta", {}).get("content"):
                    first = time.perf_counter()
    except httpx.HTTPError as exc:
        return {"ok": False, "why": type(exc).__name__}
    done = time.perf_counter()
    ok = len(events) >= 2 and events[-1] == "[DONE]" and "sources" in json.loads(events[-2]) \
        and "error" not in json.loads(events[-2])
    return {"ok": ok and first is not None, "why": "" if ok else "bad stream",
            "ttft": ((first or done) - start) * 1000, "total": (done - start) * 1000}


async def client_loop(client: httpx.AsyncClient, url: str, questions: list[str], offset: int, count: int,
                      results: list[dict]) -> None:
    for i in range(count):
        results.append(await one_answer(client, url, questions[(offset + i) % len(questions)]))


async def probe_health(url: str, stop: asyncio.Event, latencies: list[float]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                await client.get(f"{url}/health")
                latencies.append((time.perf_counter() - start) * 1000)
            except httpx.HTTPError:
                latencies.append(10_000.0)
            await asyncio.sleep(0.05)


async def run_level(url: str, questions: list[str], clients: int, requests: int) -> dict:
    results: list[dict] = []
    health: list[float] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        prober = asyncio.create_task(probe_health(url, stop, health))
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(client, url, questions, c * requests, requests, results)
                               for c in range(clients)))
        wall = time.perf_counter() - start
        stop.set()
        await prober
    good = [r for r in results if r["ok"]]
    ttft = [r["ttft"] for r in good] or [0.0]
    total = [r["total"] for r in good] or [0.0]
    return {"clients": clients, "answers": len(results), "errors": len(results) - len(good),
            "ttft_p50_ms": percentile(ttft, 50), "ttft_p95_ms": percentile(ttft, 95),
            "total_p50_ms": percentile(total, 50), "total_p95_ms": percentile(total, 95),
            "throughput_per_s": len(good) / wall, "wall_s": wall, "health_samples": len(health),
            "health_p50_ms": percentile(health, 50), "health_p95_ms": percentile(health, 95),
            "health_max_ms": max(health)}


def print_table(rows: list[dict]) -> None:
    print("| clients | answers | errors | TTFT p50 / p95 | answer p50 / p95 | throughput | /health p50 / p95 / max |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} | {r['answers']} | {r['errors']} | {r['ttft_p50_ms']:.0f} / {r['ttft_p95_ms']:.0f} ms "
              f"| {r['total_p50_ms']:.0f} / {r['total_p95_ms']:.0f} ms | {r['throughput_per_s']:.1f} answers/s "
              f"| {r['health_p50_ms']:.1f} / {r['health_p95_ms']:.1f} / {r['health_max_ms']:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--requests", type=int, default=4, help="streamed answers per client")
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    questions = [q.q for q in load_questions(ROOT / "eval" / "dev.jsonl") if q.gold]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(args.embedder, port)
    try:
        ready = wait_ready(url, process)
        print(f"server ready in {ready:.1f} s ({args.embedder}, extractive); {len(questions)} questions",
              file=sys.stderr)
        asyncio.run(run_level(url, questions, 4, 2))  # warm-up
        rows = [asyncio.run(run_level(url, questions, level, args.requests)) for level in args.levels]
    finally:
        process.terminate()
        process.wait(timeout=30)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)


if __name__ == "__main__":
    main()
