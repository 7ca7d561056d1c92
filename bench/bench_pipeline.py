"""What the pipeline adds to the time-to-first-token of an LLM call.

Both sides talk to the same loopback OpenAI-compatible server (``tests/support/fake_llm_server.py``):

* direct: one long-lived ``httpx.Client`` posts the chat request and reads the SSE
  stream up to the first content delta;
* pipeline: ``rag.answer.pipeline.ask`` (question cleaning, filters, hybrid retrieval, the
  abstention check, prompt building with tiktoken) then ``next(run.stream())`` through
  the ``openai`` backend.

The overhead is pipeline TTFT minus direct TTFT, per question, over the covered dev
questions (several rounds, after a warm-up). Target: p50 <= 50 ms.

    .venv/bin/python bench/bench_pipeline.py [--rounds 3] [--embedder use]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import indexed_services, percentile  # noqa: E402

from rag.answer.pipeline import ask  # noqa: E402
from rag.config import ROOT  # noqa: E402
from rag.search.evaluation import load_questions  # noqa: E402
from rag.services import Services  # noqa: E402
from tests.support.fake_llm_server import FakeLLMServer  # noqa: E402

MESSAGES = [{"role": "system", "content": "Réponds en citant [n]."},
            {"role": "user", "content": "Question : comment préserver l'anonymat ?"}]


def direct_ttft(client: httpx.Client) -> float:
    """Seconds from the request to the first content delta, read by hand."""
    start = time.perf_counter()
    body = {"model": "test-model", "messages": MESSAGES, "stream": True}
    elapsed = None
    with client.stream("POST", "/chat/completions", json=body) as response:
        for line in response.iter_lines():  # read to the end, as the pipeline does
            if elapsed is None and line.startswith("data: ") and line != "data: [DONE]":
                if json.loads(line[6:])["choices"][0]["delta"].get("content"):
                    elapsed = time.perf_counter() - start
    return elapsed


def pipeline_ttft(question: str, services: Services, url: str) -> float:
    """Seconds from ``ask`` to the first text the pipeline yields."""
    start = time.perf_counter()
    run = ask(question, services, backend="openai", base_url=url, model="test-model")
    stream = run.stream()
    next(stream)
    elapsed = time.perf_counter() - start
    for _ in stream:
        pass
    if run.abstained or run.result.error:
        raise SystemExit(f"unexpected result for {question!r}: {run.result.error or 'abstained'}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embedder", default="use")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    args = parser.parse_args()
    services = indexed_services(args.embedder, "bench-")
    questions = [q.q for q in load_questions(args.questions) if q.covered]
    server = FakeLLMServer().start()
    url = server.url + "/v1"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            for question in questions[:3]:  # warm-up: model, connections, caches
                direct_ttft(client)
                pipeline_ttft(question, services, url)
            direct, piped, overhead = [], [], []
            for _ in range(args.rounds):
                for question in questions:
                    d = direct_ttft(client)
                    p = pipeline_ttft(question, services, url)
                    direct.append(d)
                    piped.append(p)
                    overhead.append(p - d)
    finally:
        server.stop()
    ms = 1000
    print(f"{len(overhead)} samples ({len(questions)} questions x {args.rounds} rounds), embedder={args.embedder}, "
          f"mode={services.settings.search_mode}")
    print(f"direct TTFT    p50 {statistics.median(direct) * ms:7.2f} ms   p95 {percentile(direct, 95) * ms:7.2f} ms")
    print(f"pipeline TTFT  p50 {statistics.median(piped) * ms:7.2f} ms   p95 {percentile(piped, 95) * ms:7.2f} ms")
    p50 = statistics.median(overhead) * ms
    print(f"overhead       p50 {p50:7.2f} ms   p95 {percentile(overhead, 95) * ms:7.2f} ms   "
          f"(target p50 <= 50 ms: {'met' if p50 <= 50 else 'MISSED'})")
    first = overhead[:len(questions)]  # later rounds reuse embed_query's cached query vectors
    print(f"first round    p50 {statistics.median(first) * ms:7.2f} ms   p95 {percentile(first, 95) * ms:7.2f} ms   "
          "(each question embedded for the first time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
