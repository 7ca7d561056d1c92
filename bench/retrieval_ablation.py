"""Retrieval ablation (a script, not a test): fiche-level MRR per question kind of each
technique tried for paraphrases and English questions (issue 14), on ``eval/dev.jsonl``
(tuning) and the held-out ``eval/holdout.jsonl`` and ``eval/paraphrase_holdout.jsonl``.

    .venv/bin/python bench/retrieval_ablation.py            # table
    .venv/bin/python bench/retrieval_ablation.py --json     # one JSON object per row

Same chunks, ``use`` vectors, BM25 index (``LexicalIndex``), thesaurus and fusion
(``fuse``) as the product; dense scores are exact cosines computed here (on 80 chunks
Chroma's search is exact too: the baseline rows equal ``rag eval``), so that variants
needing other units or vectors are measured without re-indexing. Rows (hybrid unless
said): no thesaurus (the baseline), the thesaurus at several weights (the product uses
:data:`rag.search.expansion.SYNONYM_WEIGHT`), + sentence units (a passage scored by its
best sentence), + RM3 pseudo-relevance feedback, + per-question fusion weights (the
product: thesaurus + :func:`rag.search.fusion.dense_share`), a static embedder distilled
from ``use`` on the catalogue's vocabulary, the product plus a second dense list by
``e5``, plus a fiche-level dense score, with centred vectors, and the product plus the HyDE-style rewrite
with scripted rewrites
(``bench/hyde_rewrites.jsonl``: dev paraphrase and English questions only) served by the
test suite's fake LLM server through the real ``openai`` backend.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answer.backends import create_backend  # noqa: E402
from rag.answer.hyde import search_text  # noqa: E402
from rag.answer.prompting import load_prompts  # noqa: E402
from rag.catalogue.corpus import load_corpus  # noqa: E402
from rag.config import load_settings  # noqa: E402
from rag.index.chunking import chunk_corpus  # noqa: E402
from rag.index.embeddings import get_embedder  # noqa: E402
from rag.index.lexical import LexicalIndex  # noqa: E402
from rag.search.evaluation import load_questions, reciprocal_rank  # noqa: E402
from rag.search.expansion import SYNONYM_WEIGHT, load_thesaurus  # noqa: E402
from rag.search.fusion import dense_share, fuse  # noqa: E402
from rag.types import Chunk  # noqa: E402

SETS = ("dev", "holdout", "paraphrase_holdout")
Ranked = list[tuple[Chunk, float]]
SETTINGS = load_settings()
CHUNKS = chunk_corpus(load_corpus(SETTINGS.corpus_dir).fiches, SETTINGS.chunk_tokens)
LEXICAL = LexicalIndex.build(CHUNKS, "ablation")
THESAURUS = load_thesaurus(SETTINGS.synonyms_path, LEXICAL.terms)
QUESTIONS = {name: load_questions(ROOT / "eval" / f"{name}.jsonl") for name in SETS}
EMBEDDER = get_embedder("use")
_vectors: dict[str, np.ndarray] = {}


def embed(texts: list[str]) -> np.ndarray:
    """``use`` vectors, each text embedded once per run."""
    missing = [t for t in dict.fromkeys(texts) if t not in _vectors]
    if missing:
        _vectors.update(zip(missing, EMBEDDER.embed_documents(missing), strict=True))
    return np.array([_vectors[t] for t in texts])


SECTIONS = embed([c.indexed_text for c in CHUNKS])
_SENTENCE = re.compile(r"\n+|(?<=[.!?…])\s+(?=[«\"(]?[A-ZÀ-Ý0-9-])")
UNITS = [(i, s.strip()) for i, c in enumerate(CHUNKS) for s in _SENTENCE.split(c.text) if s.strip()]
UNIT_OF = np.array([i for i, _ in UNITS])


def ranked(scores: np.ndarray, depth: int = 50) -> Ranked:
    order = np.argsort(-scores, kind="stable")[:depth]
    return [(CHUNKS[i], float(scores[i])) for i in order]


def dense(question: str, sentences: bool = False) -> Ranked:
    """Cosine of each chunk; with ``sentences``, its best of itself and its sentences."""
    vector = embed([question])[0]
    scores = SECTIONS @ vector
    if sentences:
        best = np.full(len(CHUNKS), -1.0)
        np.maximum.at(best, UNIT_OF, embed([f"{CHUNKS[i].header}\n{s}" for i, s in UNITS]) @ vector)
        scores = np.maximum(scores, best)
    return ranked(scores)


def feedback(found: Ranked, question: Counter[str], weight: float, docs: int = 5, terms: int = 10) -> dict[str, float]:
    """RM3: the first ``docs`` passages' relevance model, its ``terms`` best new terms
    weighing ``weight`` times the question's terms together."""
    top = [(c, s) for c, s in found[:docs] if s > 0]
    total = sum(s for _, s in top) or 1.0
    model: Counter[str] = Counter()
    for chunk, score in top:
        counts = Counter(LEXICAL.terms(chunk.indexed_text))
        for term, count in counts.items():
            model[term] += score / total * count / sum(counts.values())
    best = [(t, p) for t, p in model.most_common() if t not in question][:terms]
    mass = sum(p for _, p in best) or 1.0
    return {t: weight * sum(question.values()) * p / mass for t, p in best}


def bm25(question: str, synonyms: float, rm3: float = 0.0, source: Ranked | None = None) -> Ranked:
    """BM25 with the thesaurus at weight ``synonyms`` and, if ``rm3``, feedback terms
    from ``source`` (default: this BM25 list)."""
    terms = LEXICAL.terms(question)
    weights: dict[str, float] = {t: float(n) for t, n in Counter(terms).items()}
    if synonyms:
        weights.update(THESAURUS.expand(terms, synonyms))
    found = LEXICAL.search_weighted(weights, 50)
    if rm3:
        weights.update(feedback(source or found, Counter(terms), rm3))
        found = LEXICAL.search_weighted(weights, 50)
    return found


def hybrid(question: str, synonyms: float = 0.0, *, sentences: bool = False, rm3: float = 0.0,
           rm3_hybrid: bool = False, per_question: bool = False) -> Ranked:
    """The product's fusion (dense weight 0.5, or the product's per-question weight
    :func:`rag.search.fusion.dense_share`), with the variants of the module doc."""
    dense_found = dense(question, sentences)
    source = fuse([dense_found, bm25(question, synonyms)], [0.5, 0.5]) if rm3_hybrid else None
    lexical_found = bm25(question, synonyms, rm3, source)
    weight = dense_share(0.5, [s for _, s in lexical_found]) if per_question else 0.5
    return fuse([dense_found, lexical_found], [weight, 1 - weight])


def distilled() -> Callable[[str], Ranked]:
    """Dense ranking by a static model distilled from ``use``: each catalogue word's
    ``use`` vector (centred), a text = SIF-weighted mean of its words' vectors."""
    word = re.compile(r"\w+")
    freq = Counter(w for c in CHUNKS for w in word.findall(c.indexed_text.casefold()))
    vocab = sorted(freq)
    table = embed(vocab)
    table -= table.mean(axis=0)
    index, total = {w: i for i, w in enumerate(vocab)}, sum(freq.values())

    def vector(text: str) -> np.ndarray:
        rows = [(1e-3 / (1e-3 + freq[w] / total), index[w]) for w in word.findall(text.casefold()) if w in index]
        v = sum((weight * table[i] for weight, i in rows), np.zeros(table.shape[1]))
        return v / (np.linalg.norm(v) or 1.0)

    matrix = np.array([vector(c.indexed_text) for c in CHUNKS])
    return lambda q: ranked(matrix @ vector(q))


def second_dense(name: str, share: float) -> Callable[[str], Ranked]:
    """The product plus a third list: the dense ranking by another packaged embedder
    (``name``), weighing ``share`` times the dense list's per-question weight."""
    other = get_embedder(name)
    matrix = np.array(other.embed_documents([c.indexed_text for c in CHUNKS]))

    def rank(question: str) -> Ranked:
        lexical_found = bm25(question, SYNONYM_WEIGHT)
        weight = dense_share(0.5, [s for _, s in lexical_found])
        extra = ranked(matrix @ np.asarray(other.embed_query(question)))
        return fuse([dense(question), lexical_found, extra], [weight, 1 - weight, share * weight])

    return rank


def fiche_level(blend: float) -> Callable[[str], Ranked]:
    """The product with each chunk's cosine plus ``blend`` times the mean cosine of its
    fiche's two best chunks (a fiche-level dense signal)."""
    fiche_of = np.array([c.fiche_id for c in CHUNKS])

    def rank(question: str) -> Ranked:
        scores = SECTIONS @ embed([question])[0]
        best_two = {f: np.sort(scores[fiche_of == f])[-2:].mean() for f in set(fiche_of)}
        found = ranked(scores + blend * np.array([best_two[f] for f in fiche_of]))
        lexical_found = bm25(question, SYNONYM_WEIGHT)
        weight = dense_share(0.5, [s for _, s in lexical_found])
        return fuse([found, lexical_found], [weight, 1 - weight])

    return rank


def centred(amount: float) -> Callable[[str], Ranked]:
    """The product with the vectors centred: ``amount`` times the mean chunk vector taken
    off the chunks and the question before the cosine (the component every fiche shares)."""
    mean = SECTIONS.mean(axis=0)
    matrix = SECTIONS - amount * mean
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)

    def rank(question: str) -> Ranked:
        vector = embed([question])[0] - amount * mean
        lexical_found = bm25(question, SYNONYM_WEIGHT)
        weight = dense_share(0.5, [s for _, s in lexical_found])
        return fuse([ranked(matrix @ (vector / np.linalg.norm(vector))), lexical_found], [weight, 1 - weight])

    return rank


def hyde_rank(synonyms: float) -> Callable[[str], Ranked]:
    """Hybrid retrieval of ``search_text`` (question + the model's passage), the model
    being the fake LLM server answering each dev question's scripted rewrite."""
    from tests.support.fake_llm_server import FakeLLMServer, Scenario

    rewrites = {row["q"]: row["rewrite"] for row in map(json.loads, (ROOT / "bench/hyde_rewrites.jsonl").open())}
    server = FakeLLMServer().start()
    backend = create_backend("openai", SETTINGS, base_url=server.url + "/v1", model="test-model")
    prompts = load_prompts(ROOT / "prompts")

    def rank(question: str) -> Ranked:
        server.queue(Scenario(tokens=[rewrites.get(question, "")]))
        return hybrid(search_text(question, backend, prompts, True), synonyms, per_question=True)

    return rank


def measure(rank: Callable[[str], Ranked], sets: tuple[str, ...] = SETS) -> dict[str, dict[str, float]]:
    """MRR per set and kind (covered questions), plus ``all``."""
    out: dict[str, dict[str, float]] = {}
    for name in sets:
        per: dict[str, list[float]] = {}
        for q in QUESTIONS[name]:
            if q.covered:
                rr = reciprocal_rank(list(dict.fromkeys(c.fiche_id for c, _ in rank(q.q))), q.gold)
                per.setdefault(q.kind, []).append(rr)
                per.setdefault("all", []).append(rr)
        out[name] = {kind: round(statistics.fmean(v), 3) for kind, v in per.items()}
    return out


def rows() -> list[tuple[str, Callable[[str], Ranked], tuple[str, ...]]]:
    """(technique, ranking function, sets) in report order."""
    W = SYNONYM_WEIGHT
    found: list[tuple[str, Callable[[str], Ranked], tuple[str, ...]]] = [
        ("dense only, use", lambda q: dense(q), SETS),
        ("bm25 only, no thesaurus", lambda q: bm25(q, 0.0), SETS),
        ("hybrid, no thesaurus (baseline)", lambda q: hybrid(q), SETS),
        ("bm25 only + thesaurus", lambda q: bm25(q, W), SETS),
    ]
    found += [(f"hybrid + thesaurus w={w}", lambda q, w=w: hybrid(q, w), SETS) for w in (0.2, 0.3, 0.5, 0.7)]
    found += [
        ("hybrid + thesaurus + sentence units", lambda q: hybrid(q, W, sentences=True), SETS),
        ("hybrid + thesaurus + RM3 (bm25 feedback, 0.3)", lambda q: hybrid(q, W, rm3=0.3), SETS),
        ("hybrid + thesaurus + RM3 (hybrid feedback, 0.3)", lambda q: hybrid(q, W, rm3=0.3, rm3_hybrid=True), SETS),
        ("hybrid + thesaurus + per-question weights (product)", lambda q: hybrid(q, W, per_question=True), SETS),
        ("dense only, distilled static", distilled(), SETS),
        ("product + e5 as a second dense list (0.5)", second_dense("e5", 0.5), SETS),
        ("product + fiche-level dense (best two, 0.5)", fiche_level(0.5), SETS),
        ("product, centred vectors (0.5)", centred(0.5), SETS),
        ("product + HyDE scripted rewrites (dev)", hyde_rank(W), ("dev",)),
    ]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    kinds = ["paraphrase", "english", "multi", "metadata", "lexical", "all"]
    if not args.json:
        print(f"{'technique':50} | dev " + " ".join(f"{k[:5]:>5}" for k in kinds)
              + " | holdout all para | para_holdout")
    for name, rank, sets in rows():
        result = measure(rank, sets)
        if args.json:
            print(json.dumps({"technique": name, **result}, ensure_ascii=False), flush=True)
            continue
        dev = " ".join(f"{result['dev'].get(k, float('nan')):5.3f}" for k in kinds)
        held = result.get("holdout", {})
        other = (f"{held.get('all', float('nan')):5.3f} {held.get('paraphrase', float('nan')):5.3f}"
                 f" | {result.get('paraphrase_holdout', {}).get('all', float('nan')):5.3f}")
        print(f"{name[:50]:50} | dev {dev} | holdout {other}", flush=True)


if __name__ == "__main__":
    main()
