"""Score fusion of the dense and BM25 result lists (hybrid mode).

Reciprocal rank fusion throws the scores away: a name that only BM25 can match (a
partner, a person, a town) scores like any rank-1 hit, and a flat dense list (every
passage about as close to the question) weighs as much as a decisive one. Here each
list keeps its scores, put on a common scale by **distribution-based score fusion**
(DBSF, as in Qdrant): a score ``s`` of a list with mean ``μ`` and standard deviation
``σ`` over its candidates becomes ``(s - (μ - 3σ)) / 6σ``, clipped to [0, 1]. A list
whose best hit stands far above the others keeps that lead; a flat list moves little.
The fused score is the weighted sum of the normalised scores; a chunk missing from a
list gets 0 there (the bottom of that list's scale).

``μ`` and ``σ`` are taken over a list's first :data:`DEPTH` candidates only, whatever
the number of hits asked for, so that the order of the top hits does not depend on
``k`` (the pipeline asks for 6, the evaluation for 50).

The dense list's weight is set per question (:func:`dense_share`): a BM25 list whose
best score barely stands out (the question's words are spread over many passages alike,
typical of a paraphrase) lends more weight to the dense list, a decisive one less.
"""

from __future__ import annotations

import math

from rag.types import Chunk

SPREAD = 3.0
"""Half-width of the normalised scale, in standard deviations around the list's mean."""
DEPTH = 50
"""How many of a list's best scores set its mean and standard deviation."""
PEAK_SLOPE = 0.05
"""Dense weight added per standard deviation by which BM25's best score stands out less
than :data:`PEAK_REFERENCE` (chosen on eval/dev.jsonl among 0.05, 0.1, 0.2)."""
PEAK_REFERENCE = 2.5
"""BM25 lead (in standard deviations above its list's mean) at which the weight is the configured one."""
SHIFT = (-0.2, 0.3)
"""How far the per-question dense weight may move from the configured one."""


def _spread(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation, in plain floats (``statistics.pstdev``
    computes exactly with fractions: ~0.3 ms for 50 scores, twice per query)."""
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


def normalise(scores: list[float]) -> list[float]:
    """The DBSF normalisation of one list's scores, best first (see module doc), in [0, 1].
    A list of one score, or of equal scores, has no spread: each candidate is its best (1.0)."""
    if not scores:
        return []
    mean, sigma = _spread(scores[:DEPTH])
    if sigma == 0:
        return [1.0] * len(scores)
    low = mean - SPREAD * sigma
    return [min(1.0, max(0.0, (s - low) / (2 * SPREAD * sigma))) for s in scores]


def fuse(lists: list[list[tuple[Chunk, float]]], weights: list[float]) -> list[tuple[Chunk, float]]:
    """Fuse scored result lists (each best first) into one, best first: the sum over
    lists of ``weight × normalised score``; ties broken by chunk id (stable output)."""
    if len(weights) != len(lists):
        raise ValueError("one weight per result list")
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for found, weight in zip(lists, weights, strict=True):
        for (chunk, _), value in zip(found, normalise([s for _, s in found]), strict=True):
            scores[chunk.id] = scores.get(chunk.id, 0.0) + weight * value
            chunks.setdefault(chunk.id, chunk)
    order = sorted(scores, key=lambda cid: (-scores[cid], cid))
    return [(chunks[cid], scores[cid]) for cid in order]


def dense_share(base: float, lexical: list[float]) -> float:
    """The dense list's weight for one question: ``base`` plus :data:`PEAK_SLOPE` per
    standard deviation by which BM25's best score (``lexical``, best first) stands out
    of its first :data:`DEPTH` scores less than :data:`PEAK_REFERENCE`, moved at most by
    :data:`SHIFT`, within [0, 1]. ``base`` 0 or 1 (one list only), or fewer than three
    BM25 scores, give ``base``."""
    head = lexical[:DEPTH]
    if not 0.0 < base < 1.0 or len(head) < 3:
        return base
    mean, sigma = _spread(head)
    peak = (head[0] - mean) / (sigma or 1.0)
    shift = min(SHIFT[1], max(SHIFT[0], PEAK_SLOPE * (PEAK_REFERENCE - peak)))
    return min(1.0, max(0.0, base + shift))
