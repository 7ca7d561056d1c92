"""``hashing``: feature hashing of word unigrams and bigrams, numpy only, no model.

Text is casefolded and accent-folded (:func:`rag.text.fold`), the core French stop words
dropped; each unigram and bigram adds a signed, sublinear (1 + log tf) weight to one of
``dim`` buckets chosen by a stable hash (blake2b: identical across processes, unlike
``hash()``). Lexical, not semantic: a fast embedder for tests and a fallback where no
model can be installed.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from functools import lru_cache
from itertools import pairwise

import numpy as np
from pydantic import Field

from rag.index.embeddings import Embedder, EmbedderOptions, register
from rag.text import CORE_STOP_WORDS, fold


def words(text: str) -> list[str]:
    """Casefolded, accent-folded words of ``text`` without the core French stop words."""
    return [w for w in re.findall(r"[a-z0-9]+", fold(text)) if w not in CORE_STOP_WORDS]


class HashingOptions(EmbedderOptions):
    """Options of the ``hashing`` embedder."""

    dim: int = Field(256, ge=16, le=65536, description="buckets: the vectors' dimension")


@register
class HashingEmbedder(Embedder):
    """Symmetric, deterministic, instant to load; ``dim`` buckets (default 256)."""

    name = "hashing"
    Options = HashingOptions
    options: HashingOptions
    batch_size = 1024

    def __init__(self, options: HashingOptions | None = None) -> None:
        super().__init__(options)
        self.dim = self.options.dim

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": "blake2b-unigrams-bigrams-v2"}  # v2: casefold (ß -> ss)

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = words(text)
            features = Counter(tokens + [f"{a} {b}" for a, b in pairwise(tokens)])
            for feature, count in features.items():
                digest = _digest(feature)
                sign = 1.0 if digest & 1 else -1.0
                out[row, (digest >> 1) % self.dim] += sign * (1.0 + np.log(count))
        return out


@lru_cache(maxsize=1 << 16)
def _digest(feature: str) -> int:
    """A stable 64-bit hash of a feature (cached: words repeat a lot)."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
