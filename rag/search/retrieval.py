"""Hybrid retrieval: dense (Chroma) + BM25, fused by their normalised scores
(``rag.search.fusion``: distribution-based score fusion), then diversified so that one fiche
cannot fill the top-k. The BM25 query is the question's terms plus, at a lower weight,
their equivalents from the domain thesaurus (``rag.search.expansion``), so everyday words
reach the fiches' trade words; the dense list weighs more when BM25's top is flat
(``rag.search.fusion.dense_share``).

Filters are exact: the matching chunks are computed in Python over the BM25 index's
chunks (Chroma's ``where`` cannot match inside a " | "-joined list, and is slow), the
dense query is restricted to their ids (see ``Retriever._dense``), and every candidate
is checked again.
The retriever holds no mutable state: one instance serves many threads.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import numpy as np

from rag.config import Settings
from rag.errors import InputError
from rag.index.embeddings import Embedder
from rag.index.lexical import LexicalIndex
from rag.index.store import VectorStore
from rag.search.expansion import Thesaurus
from rag.search.filters import FILTER_FIELDS, check_filters, chunk_matches, value_matches
from rag.search.fusion import dense_share, fuse
from rag.text import clean_question
from rag.types import Chunk, Hit

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")


def check_k(k: int | None) -> None:
    """The number of results asked for is at least 1 (None: unset, the default applies).
    Public so that a caller can check ``k`` before costly work (the CLI, before indexing)."""
    if k is not None and k < 1:
        raise InputError(f"k doit valoir au moins 1 (reçu : {k})")


def diversify(hits: list[Hit], k: int, per_fiche: int) -> list[Hit]:
    """The first ``k`` hits keeping at most ``per_fiche`` chunks of any one fiche."""
    kept: list[Hit] = []
    seen: dict[str, int] = {}
    for hit in hits:
        if seen.get(hit.chunk.fiche_id, 0) < per_fiche:
            seen[hit.chunk.fiche_id] = seen.get(hit.chunk.fiche_id, 0) + 1
            kept.append(hit)
            if len(kept) == k:
                break
    return kept


class Retriever:
    """Searches one store + BM25 index with one embedder (thread-safe)."""

    max_ids = 3000
    """Above this many allowed chunks, a filtered dense query over-fetches instead of
    sending the ids to Chroma."""

    def __init__(self, store: VectorStore, lexical: LexicalIndex, embedder: Embedder, settings: Settings,
                 thesaurus: Callable[[], Thesaurus] | None = None) -> None:
        """``thesaurus``: gives the current thesaurus (``Services.thesaurus``, re-read when
        its file changes); None: BM25 on the question's own words only."""
        self.store = store
        self.lexical = lexical
        self.embedder = embedder
        self.settings = settings
        self.thesaurus = thesaurus
        self._columns = _columns(lexical.chunks)

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: dict[str, str] | None = None) -> list[Hit]:
        """The ``k`` best chunks for ``query`` (see module doc). Bad input -> InputError."""
        if mode not in MODES:
            raise InputError(f"mode de recherche inconnu « {mode} » ; valides : {', '.join(MODES)}")
        check_k(k)
        question, notices = clean_question(query, self.settings.max_question_chars)
        for notice in notices:
            log.warning("%s", notice)
        checked = check_filters(filters)
        mask = self._allowed(checked)
        depth = max(50, 5 * k)
        dense_found: list[tuple[Chunk, float]] = []
        lexical_found: list[tuple[Chunk, float]] = []
        if mode in ("hybrid", "dense") and (mask is None or mask.any()):
            found = self._resolve(self._dense(self.embedder.embed_query(question), depth, mask))
            dense_found = sorted(((c, s) for c, s in found if chunk_matches(c, checked)),
                                 key=lambda h: (-h[1], h[0].id))
        if mode in ("hybrid", "bm25"):
            lexical_found = self.lexical.search_weighted(self.lexical_query(question), depth, mask)
        if mode == "hybrid":
            weight = dense_share(self.settings.dense_weight, [s for _, s in lexical_found])
            ranked = fuse([dense_found, lexical_found], [weight, 1.0 - weight])
        else:
            ranked = dense_found or lexical_found
        dense = {c.id: s for c, s in dense_found}
        lexical = {c.id: s for c, s in lexical_found}
        hits = [Hit(c, s, dense.get(c.id), lexical.get(c.id)) for c, s in ranked]
        return diversify(hits, k, self.settings.max_per_fiche)

    def lexical_query(self, question: str) -> dict[str, float]:
        """The weighted BM25 terms of ``question``: its own (weight 1 per occurrence) plus
        the thesaurus' equivalents (see :mod:`rag.search.expansion`)."""
        terms = self.lexical.terms(question)
        weights = {term: float(count) for term, count in Counter(terms).items()}
        if self.thesaurus is not None:
            weights.update(self.thesaurus().expand(terms))
        return weights

    def _resolve(self, found: list[tuple[str, float]]) -> list[tuple[Chunk, float]]:
        """Chunks of dense hits from the BM25 index's table; from the store for ids it
        lacks (store and BM25 index briefly differ after an interrupted indexing)."""
        missing = [i for i, _ in found if i not in self.lexical.positions]
        extra = {c.id: c for c in self.store.get(missing)}
        chunks = self.lexical.chunks
        return [(extra[i] if i in extra else chunks[self.lexical.positions[i]], s) for i, s in found
                if i in self.lexical.positions or i in extra]

    def _allowed(self, filters: dict[str, str]) -> np.ndarray | None:
        """For filters: a mask over the BM25 index's chunks (None: no filter)."""
        if not filters:
            return None
        mask = np.ones(len(self.lexical.chunks), dtype=bool)
        for key, value in filters.items():
            codes, distinct = self._columns[FILTER_FIELDS[key].chunk_key]
            mask &= np.array([value_matches(value, d) for d in distinct] + [False])[codes]
        return mask

    def _dense(self, vector: np.ndarray, depth: int, mask: np.ndarray | None) -> list[tuple[str, float]]:
        """The ``depth`` nearest chunks among the allowed ones. Few allowed: Chroma
        searches just their ids. Many: a larger unfiltered query, filtered here, is
        exact as soon as it yields ``depth`` allowed chunks (else fall back to ids)."""
        if mask is None:
            return self.store.query(vector, depth)
        chunks = self.lexical.chunks
        allowed = np.flatnonzero(mask)
        if len(allowed) > self.max_ids:
            fetch = min(len(chunks), 2 * depth * len(chunks) // len(allowed))
            allowed_ids = {chunks[i].id for i in allowed}
            found = [(i, s) for i, s in self.store.query(vector, fetch) if i in allowed_ids]
            if len(found) >= depth or fetch >= len(chunks):
                return found[:depth]
        return self.store.query(vector, depth, [chunks[i].id for i in allowed])


def _columns(chunks: list[Chunk]) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Per filterable metadata key: each chunk's value as a code into the distinct values,
    so a filter is matched once per distinct value, not once per chunk."""
    columns = {}
    for field in FILTER_FIELDS.values():
        distinct: dict[str, int] = {}
        codes = [distinct.setdefault(c.metadata.get(field.chunk_key, ""), len(distinct)) for c in chunks]
        columns[field.chunk_key] = (np.array(codes, dtype=np.int64), list(distinct))
    return columns
