"""rag.search.fusion: score fusion of the dense and BM25 lists, normalisation, and the
per-question dense share (moved from test_retrieval.py)."""

from __future__ import annotations

import pytest

from rag.search.fusion import DEPTH, SHIFT, dense_share, fuse, normalise
from rag.types import Chunk


def _chunk(i: str, fiche_id: str) -> Chunk:
    return Chunk(id=i, fiche_id=fiche_id, title="t", section="s", text=i)


def test_fusion_lets_a_decisive_lead_outweigh_a_marginal_one():
    """Dense puts a barely ahead of b; BM25 puts b far ahead of everyone. Rank fusion
    would tie them; score fusion must prefer b, and a chunk only one list has is kept."""
    a, b, c, d, e = (_chunk(i, i) for i in "abcde")
    dense = [(a, 0.50), (b, 0.49), (c, 0.48), (d, 0.47)]
    lexical = [(b, 9.0), (a, 1.0), (c, 0.9), (d, 0.8), (e, 0.7)]
    fused = fuse([dense, lexical], [0.5, 0.5])
    assert [x.id for x, _ in fused][:2] == ["b", "a"]
    assert {x.id for x, _ in fused} == set("abcde")
    assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)


def test_fusion_weights_select_one_list():
    a, b, c = (_chunk(i, i) for i in "abc")
    dense, lexical = [(c, 0.9), (b, 0.5), (a, 0.1)], [(a, 5.0), (b, 1.0)]
    assert [x.id for x, _ in fuse([dense, lexical], [1.0, 0.0])] == ["c", "b", "a"]
    assert [x.id for x, _ in fuse([dense, lexical], [0.0, 1.0])][:2] == ["a", "b"]
    with pytest.raises(ValueError):
        fuse([dense, lexical], [1.0])


def test_normalise_is_bounded_spread_aware_and_depth_limited():
    assert normalise([]) == [] and normalise([3.0]) == [1.0] and normalise([2.0, 2.0]) == [1.0, 1.0]
    flat, peaked = normalise([0.51, 0.50, 0.49, 0.48]), normalise([10.0, 0.50, 0.49, 0.48])
    assert all(0.0 <= v <= 1.0 for v in flat + peaked)
    assert peaked[0] - peaked[1] > flat[0] - flat[1]  # an outlier keeps its lead
    head = [float(i) for i in range(DEPTH, 0, -1)]
    assert normalise(head + [0.5, 0.2])[:DEPTH] == normalise(head)  # the tail sets nothing


def test_dense_weight_grows_when_bm25_top_is_flat_and_shrinks_when_decisive():
    flat = [5.0, 4.9, 4.8, 4.8, 4.7, 4.6, 4.5]
    decisive = [30.0, 2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2]
    assert 0.5 < dense_share(0.5, flat) <= 0.5 + SHIFT[1]
    assert 0.5 + SHIFT[0] <= dense_share(0.5, decisive) < 0.5
    assert dense_share(0.0, flat) == 0.0 and dense_share(1.0, decisive) == 1.0  # one list asked: kept
    assert dense_share(0.5, [3.0, 1.0]) == 0.5 and dense_share(0.5, []) == 0.5  # too few BM25 scores
    assert 0.0 <= dense_share(0.95, flat) <= 1.0
