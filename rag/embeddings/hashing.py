"""``hashing``: feature hashing of word unigrams and bigrams, numpy only, no model.

Text is lowercased and accent-folded, French stop words dropped; each unigram and bigram
adds a signed, sublinear (1 + log tf) weight to one of ``dim`` buckets chosen by a
stable hash (blake2b: identical across processes, unlike ``hash()``). Lexical, not
semantic: a fast embedder for tests and a fallback where no model can be installed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np

from rag.embeddings import Embedder, register
from rag.errors import ConfigError

STOP_WORDS = frozenset(
    "a au aux avec ce ces d dans de des du elle en et il ils j l la le les leur lui m ma mais "
    "me meme mes n ne nos notre nous on ou par pas pour qu que qui s sa se ses son sur t ta "
    "te tes toi ton tu un une vos votre vous y est sont ete etre c cette cet".split()
)


def words(text: str) -> list[str]:
    """Lowercased, accent-folded words of ``text`` without French stop words."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [w for w in re.findall(r"[a-z0-9]+", folded) if w not in STOP_WORDS]


@register
class HashingEmbedder(Embedder):
    """Symmetric, deterministic, instant to load; ``dim`` buckets (default 256)."""

    name = "hashing"
    batch_size = 1024

    def __init__(self, dim: int = 256) -> None:
        super().__init__()
        if not 16 <= int(dim) <= 65536:
            raise ConfigError(f"embedder 'hashing': dim must be between 16 and 65536, not {dim}")
        self.dim = int(dim)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": "blake2b-unigrams-bigrams-v1"}

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = words(text)
            features = Counter(tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])])
            for feature, count in features.items():
                digest = _digest(feature)
                sign = 1.0 if digest & 1 else -1.0
                out[row, (digest >> 1) % self.dim] += sign * (1.0 + np.log(count))
        return out


@lru_cache(maxsize=1 << 16)
def _digest(feature: str) -> int:
    """A stable 64-bit hash of a feature (cached: words repeat a lot)."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
