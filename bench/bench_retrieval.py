"""Retrieval benchmark (a script, not a test): index throughput, warm query latency
p50/p95 (in-process, beyond the query embedding) for hybrid, dense-only and BM25-only,
the query embedding time on its own, unchanged re-index time and peak RSS, at seed scale
and on synthetic catalogues generated from the seed's sections.

Usage::

    python bench/bench_retrieval.py                       # seed (use), 10k (use), 100k (hashing)
    python bench/bench_retrieval.py --scales seed 10k --embedder static

Each scale runs in its own process (so peak RSS is per scale) with its own temporary
corpus and data dir (``--work DIR`` reuses one of an earlier run: no re-indexing).
Synthetic fiches are seed fiches with shuffled sentences, new ids
and titles, and villes drawn from the seed's. Query vectors are computed before timing:
the retriever gets a :class:`PrecomputedEmbedder`, so the measured latency is the
retrieval itself (Chroma + BM25 + fusion + diversification); the embedding time is
measured separately with the real embedder. Rows "sans thésaurus" time the same
retriever without the BM25 query expansion; all rows are interleaved query by query.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import percentile  # noqa: E402

from rag.catalogue.corpus import write_fiches  # noqa: E402
from rag.catalogue.fiche import VILLE, Fiche  # noqa: E402
from rag.catalogue.importer import import_export  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.index.embeddings import Embedder, get_embedder  # noqa: E402
from rag.index.indexing import index_corpus  # noqa: E402
from rag.search.retrieval import Retriever  # noqa: E402
from rag.services import Services  # noqa: E402

SCALES = {"seed": 0, "10k": 10_000, "100k": 100_000}
DEFAULT_EMBEDDER = {"seed": "use", "10k": "use", "100k": "hashing"}
QUERIES = [
    "comment préserver l'anonymat dans la salle d'attente ?",
    "améliorer l'accueil des usagers en mairie",
    "how did a prefecture improve its reception with workshops?",
    "projets de l'Agence Grrr",
    "quelles initiatives ont travaillé avec DETEA ?",
    "médiation numérique et démarches en ligne",
    "accueil des citoyens étrangers",
    "co-conception avec les agents et les habitants",
    "signalétique et orientation dans le hall",
    "France Services en zone rurale",
]


class PrecomputedEmbedder(Embedder):
    """Answers ``embed_query`` from vectors computed beforehand (timing excludes the model)."""

    def __init__(self, base: Embedder, queries: list[str]) -> None:
        super().__init__()
        self.name, self.dim, self._base = base.name, base.dim, base  # type: ignore[misc]
        self._vectors = {q: base.embed_query(q) for q in queries}

    def config(self) -> dict[str, str | int]:
        return self._base.config()

    def _embed(self, texts: list[str], *, query: bool):
        return self._base.embed_documents(texts)

    def embed_query(self, text: str):
        return self._vectors[text]


def synthetic(seed: list[Fiche], chunks_wanted: int, chunks_per_fiche: float, rng: random.Random) -> list[Fiche]:
    """Fiches made from the seed's sections with shuffled sentences, new ids and villes."""
    villes = sorted({v for f in seed for v in f.values(VILLE)})
    fiches = []
    for n in range(int(chunks_wanted / chunks_per_fiche)):
        base = seed[n % len(seed)]
        sections = {}
        for name, text in base.sections.items():
            sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]
            rng.shuffle(sentences)
            sections[name] = "\n".join(sentences)
        metadata = {**base.metadata, VILLE: rng.choice(villes)}
        fiches.append(Fiche(id=f"syn-{n:06d}", title=f"{base.title} — variante {n}", sections=sections,
                            metadata=metadata))
    return fiches


def run_scale(scale: str, embedder_name: str, rounds: int, work: Path | None = None) -> dict:
    """Build one catalogue, index it, time queries; returns the figures. ``work``: a
    folder of an earlier run of the same scale to reuse (its index is then only brought
    up to date: ``embedded`` 0, no indexing throughput)."""
    work = work or Path(tempfile.mkdtemp(prefix=f"bench-{scale}-"))
    export = ROOT / "corpus/raw/000_d9e11f9bb21b0018.txt"
    seed = import_export(export, work / "seed", ROOT / "corpus/denylist.txt").fiches
    settings = load_settings(corpus_dir=work / "fiches", data_dir=work / "data", embedder=embedder_name)
    from rag.index.chunking import chunk_corpus

    per_fiche = len(chunk_corpus(seed, settings.chunk_tokens)) / len(seed)
    fiches = seed + synthetic(seed, SCALES[scale], per_fiche, random.Random(7)) if SCALES[scale] else seed
    write_fiches(fiches, settings.corpus_dir)

    start = time.perf_counter()
    embedder = get_embedder(embedder_name)
    embedder.embed_documents(["chargement du modèle"])  # model load is not indexing throughput
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = index_corpus(settings, embedder=embedder)
    index_seconds = time.perf_counter() - start
    start = time.perf_counter()
    unchanged = index_corpus(settings, embedder=embedder)
    reindex_seconds = time.perf_counter() - start
    assert unchanged.embedded == 0

    embed_ms = []
    for i, q in enumerate(QUERIES * 3):  # distinct texts: embed_query caches repeated ones
        t = time.perf_counter()
        embedder.embed_query(f"{q} ({i})")
        embed_ms.append((time.perf_counter() - t) * 1000)
    services = Services(settings)
    services._cache["embedder"] = PrecomputedEmbedder(embedder, QUERIES)
    retriever = services.retriever
    plain = Retriever(retriever.store, retriever.lexical, retriever.embedder, settings)  # no thesaurus
    searches: dict[str, Callable[[str], object]] = {
        "hybrid": lambda q: retriever.search(q, k=6, mode="hybrid"),
        "hybrid sans thésaurus": lambda q: plain.search(q, k=6, mode="hybrid"),
        "dense": lambda q: retriever.search(q, k=6, mode="dense"),
        "bm25": lambda q: retriever.search(q, k=6, mode="bm25"),
        "bm25 sans thésaurus": lambda q: plain.search(q, k=6, mode="bm25"),
        "hybrid+filtre ville": lambda q: retriever.search(q, k=6, filters={"ville": "Nantes"}),
    }
    latencies: dict[str, list[float]] = {label: [] for label in searches}
    for q in QUERIES:  # warm-up
        for search in searches.values():
            search(q)
    for _ in range(rounds):  # interleaved: a load spike on the shared machine hits every row alike
        for q in QUERIES:
            for label, search in searches.items():
                t = time.perf_counter()
                search(q)
                latencies[label].append((time.perf_counter() - t) * 1000)
    return {
        "scale": scale,
        "embedder": embedder_name,
        "fiches": len(fiches),
        "chunks": len(retriever.lexical.chunks),
        "embedded": report.embedded,
        "model_load_s": round(load_seconds, 2),
        "index_s": round(index_seconds, 2),
        "chunks_per_s": round(report.embedded / index_seconds, 1) if report.embedded else None,
        "unchanged_reindex_s": round(reindex_seconds, 3),
        "query_embed_ms_p50": round(statistics.median(embed_ms), 2),
        "latency_ms": {m: {"p50": round(percentile(v, 50), 2), "p95": round(percentile(v, 95), 2)}
                       for m, v in latencies.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--embedder", default=None, help="one embedder for every scale")
    parser.add_argument("--rounds", type=int, default=10, help="timed passes over the query list")
    parser.add_argument("--work", type=Path, default=None,
                        help="reuse this folder of an earlier run (one scale; printed as 'work')")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work and len(args.scales) != 1:
        parser.error("--work goes with one scale")
    if args.one:
        scale = args.scales[0]
        print(json.dumps(run_scale(scale, args.embedder or DEFAULT_EMBEDDER[scale], args.rounds, args.work)))
        return
    for scale in args.scales:
        cmd = [sys.executable, __file__, "--one", "--scales", scale, "--rounds", str(args.rounds)]
        cmd += ["--embedder", args.embedder] if args.embedder else []
        cmd += ["--work", str(args.work)] if args.work else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            print(f"{scale}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        print(json.dumps(json.loads(done.stdout.strip().splitlines()[-1]), ensure_ascii=False, indent=1), flush=True)


if __name__ == "__main__":
    main()
