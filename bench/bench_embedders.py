"""Embedder benchmark (a script, not a test): speed, load time, memory and dense-only
retrieval quality of every embedder on the bundled catalogue's chunks.

    .venv/bin/python bench/bench_embedders.py                      # all packaged embedders
    .venv/bin/python bench/bench_embedders.py use e5 --questions eval/dev.jsonl
    .venv/bin/python bench/bench_embedders.py sentence-transformers --model-path DIR

Each embedder runs in its own process, so load time includes importing its libraries
(torch for the sentence-transformers ones) and peak RSS is its own. Measured:

- load: seconds to import and build the embedder (first model call included);
- docs/s: chunks embedded per second (``embed_documents`` on all chunks, repeated to
  last >= 2 s), and per CPU-second of the process (all its threads: robust when other
  processes share the cores); sent/s: the same on the chunks' sentences (short texts,
  batches of 32); query ms: median ``embed_query`` latency, warm;
- paraphrase: rank (of all chunks) and cosine of the "macarons / anonymat" passage for
  "Comment préserver l'anonymat dans la salle d'attente ?", a paraphrase sharing one word;
- R@1 / R@5 / MRR: fiche-level, dense cosine only (no BM25, no fusion), over the covered
  questions of ``--questions`` (default eval/dev.jsonl), plus R@5 per question kind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARAPHRASE = ("Comment préserver l'anonymat dans la salle d'attente ?", "macarons")
DEFAULT_EMBEDDERS = ("hashing", "static", "use", "minilm", "e5")


def load_chunks(chunk_tokens: int):
    from rag.catalogue.corpus import load_corpus
    from rag.config import load_settings
    from rag.index.chunking import chunk_corpus

    settings = load_settings()
    corpus = load_corpus(settings.corpus_dir)
    if not corpus.fiches:
        sys.exit(f"no fiche in {settings.corpus_dir}: run `python -m rag import` first")
    return chunk_corpus(corpus.fiches, chunk_tokens)


def dense_fiche_ranking(scores, chunks) -> list[str]:
    """Fiche ids by their best chunk's score."""
    best: dict[str, float] = {}
    for score, chunk in zip(scores, chunks, strict=True):
        best[chunk.fiche_id] = max(best.get(chunk.fiche_id, -2.0), float(score))
    return sorted(best, key=best.get, reverse=True)


def quality(embedder, matrix, chunks, questions_path: Path) -> dict:
    """Fiche-level recall@1/@5 and MRR of dense search over the covered questions."""
    from rag.search.evaluation import load_questions, recall_at, reciprocal_rank

    covered = [q for q in load_questions(questions_path) if q.covered]
    if not covered:
        return {}
    per_kind: dict[str, list[float]] = defaultdict(list)
    r1 = r5 = rr = 0.0
    for q in covered:
        ranking = dense_fiche_ranking(matrix @ embedder.embed_query(q.q), chunks)
        reciprocal = reciprocal_rank(ranking, q.gold)
        hit5 = recall_at(ranking, q.gold, 5)
        r1 += reciprocal == 1.0
        r5 += hit5
        rr += reciprocal
        per_kind[q.kind].append(hit5)
    n = len(covered)
    return {"n": n, "r1": r1 / n, "r5": r5 / n, "mrr": rr / n,
            "r5_by_kind": {k: sum(v) / len(v) for k, v in sorted(per_kind.items())}}


def sentence_throughput(embedder, chunks, seconds: float = 2.0) -> tuple[float, float]:
    """Sentences of the chunks embedded per second (wall, CPU), in batches of 32, for at
    least ``seconds`` or one pass over all the sentences."""
    sentences = [s for c in chunks for s in re.split(r"(?<=[.!?])\s+|\n+", c.text) if len(s) > 20]
    done, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds and done < len(sentences):
        batch = sentences[done:done + 32]
        embedder.embed_documents(batch)
        done += len(batch)
    return done / (time.perf_counter() - started), done / (time.process_time() - cpu_started)


def measure(name: str, options: dict, chunk_tokens: int, questions: Path | None) -> dict:
    """Everything for one embedder, in this process."""
    started = time.perf_counter()
    from rag.index.embeddings import get_embedder

    embedder = get_embedder(name, **options)
    embedder.embed_query("échauffement")
    load_s = time.perf_counter() - started

    chunks = load_chunks(chunk_tokens)
    texts = [c.indexed_text for c in chunks]
    runs, started, cpu_started = 0, time.perf_counter(), time.process_time()
    while True:
        matrix = embedder.embed_documents(texts)
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= 2.0:
            break
    cpu = time.process_time() - cpu_started
    sent_wall, sent_cpu = sentence_throughput(embedder, chunks)
    latencies = []
    for i in range(15):
        t0 = time.perf_counter()
        embedder.embed_query(f"comment améliorer l'accueil des usagers n°{i} ?")
        latencies.append(time.perf_counter() - t0)

    scores = matrix @ embedder.embed_query(PARAPHRASE[0])
    target = next(i for i, c in enumerate(chunks) if PARAPHRASE[1] in c.text)
    result = {
        "embedder": name, "dim": embedder.dim, "load_s": load_s, "chunks": len(texts),
        "docs_per_s": runs * len(texts) / elapsed, "docs_per_cpu_s": runs * len(texts) / cpu,
        "sent_per_s": sent_wall, "sent_per_cpu_s": sent_cpu,
        "query_ms": 1000 * statistics.median(latencies),
        "para_rank": int((scores > scores[target]).sum()) + 1, "para_cos": float(scores[target]),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if questions is not None and questions.is_file():
        result.update(quality(embedder, matrix, chunks, questions))
    return result


def run_child(name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--child", name, "--chunk-tokens", str(args.chunk_tokens),
               "--questions", str(args.questions)]
    if args.model_path:
        command += ["--model-path", str(args.model_path)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"embedder": name, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    header = (f"{'embedder':<22}{'dim':>5}{'load s':>8}{'docs/s':>9}{'docs/cpu-s':>11}"
              f"{'sent/s':>9}{'sent/cpu-s':>11}{'query ms':>10}{'RSS MB':>8}"
              f"{'para rank':>11}{'cos':>7}{'R@1':>7}{'R@5':>7}{'MRR':>7}")
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['embedder']:<22}error: {r['error']}")
            continue
        quality_cols = (f"{r['r1']:>7.2f}{r['r5']:>7.2f}{r['mrr']:>7.2f}" if "r5" in r else "")
        print(f"{r['embedder']:<22}{r['dim']:>5}{r['load_s']:>8.1f}{r['docs_per_s']:>9.1f}"
              f"{r['docs_per_cpu_s']:>11.1f}{r['sent_per_s']:>9.1f}{r['sent_per_cpu_s']:>11.1f}"
              f"{r['query_ms']:>10.1f}{r['rss_mb']:>8.0f}{r['para_rank']:>6}/{r['chunks']:<4}"
              f"{r['para_cos']:>7.2f}{quality_cols}")
    kinds = sorted({k for r in rows for k in r.get("r5_by_kind", {})})
    if kinds:
        n = next(r["n"] for r in rows if "n" in r)
        print(f"\nR@5 by question kind (dense only, {n} covered questions):")
        print(f"{'embedder':<22}" + "".join(f"{k:>12}" for k in kinds))
        for r in rows:
            if "r5_by_kind" in r:
                print(f"{r['embedder']:<22}" + "".join(f"{r['r5_by_kind'].get(k, 0):>12.2f}" for k in kinds))


def _default_chunk_tokens() -> int:
    """The product's chunk budget, so the bench measures what the app indexes."""
    from rag.config import Settings

    return Settings.model_fields["chunk_tokens"].default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("embedders", nargs="*", default=list(DEFAULT_EMBEDDERS))
    parser.add_argument("--model-path", type=Path, help="model folder for 'sentence-transformers'")
    parser.add_argument("--chunk-tokens", type=int, default=_default_chunk_tokens(),
                        help="chunk token budget (default: the product's RAG_CHUNK_TOKENS default)")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "dev.jsonl")
    parser.add_argument("--json", action="store_true", help="print the raw results as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        options = {"model_path": args.model_path} if args.child == "sentence-transformers" else {}
        print(json.dumps(measure(args.child, options, args.chunk_tokens, args.questions)))
        return
    load = os.getloadavg()[0]
    rows = [run_child(name, args) for name in args.embedders]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{os.cpu_count()} cores, load average {load:.1f} at start "
              "(wall-clock speeds are only meaningful when it is below the core count)\n")
        print_table(rows)


if __name__ == "__main__":
    main()
