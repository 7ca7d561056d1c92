"""``sentence-transformers``: any sentence-transformers model folder on local disk
(``RAG_EMBEDDER_MODEL_PATH``), e.g. a multilingual-e5 a user already has. Also the
loading helpers shared by the ``minilm`` and ``static`` embedders.

Never the Hugging Face hub: the hub is switched off (``HF_HUB_OFFLINE``) before the
library is imported, and models are only ever loaded from a folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from rag.errors import ConfigError
from rag.index.embeddings import Embedder, EmbedderOptions, missing_package, package_version, register

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def import_sentence_transformers(embedder: str) -> ModuleType:
    """The ``sentence_transformers`` module for the embedder ``embedder`` (the one a
    missing package is reported for), imported offline and quiet (the hub is disabled,
    progress bars off: stdout may carry ``--json`` output)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import sentence_transformers
        from transformers.utils import logging as transformers_logging
    except ImportError:
        raise missing_package(embedder, "sentence-transformers") from None
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    return sentence_transformers


def folder_fingerprint(folder: Path) -> str:
    """A short hash of a model folder's file names and sizes: changes when the model does."""
    entries = sorted(f"{p.relative_to(folder)}:{p.stat().st_size}" for p in folder.rglob("*") if p.is_file())
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()[:16]


class SentenceTransformerBase(Embedder):
    """Runs a loaded ``SentenceTransformer`` on CPU; subclasses build it in ``__init__``."""

    def _use_model(self, model: SentenceTransformer) -> None:
        self._model = model
        dim = (model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
               else model.get_sentence_embedding_dimension())
        if dim is None:
            raise ConfigError(f"l'embedder « {self.name} » : le modèle ne donne pas la dimension de ses vecteurs")
        self.dim = int(dim)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "library": package_version("sentence-transformers")}

    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        return self._model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)


class LocalModelOptions(EmbedderOptions):
    """Options of the ``sentence-transformers`` embedder."""

    model_path: Path | None = None


@register
class LocalSentenceTransformer(SentenceTransformerBase):
    """A sentence-transformers model folder given by path (option ``model_path``)."""

    name = "sentence-transformers"
    Options = LocalModelOptions
    options: LocalModelOptions

    def __init__(self, options: LocalModelOptions | None = None) -> None:
        super().__init__(options)
        if self.options.model_path is None:
            raise ConfigError("l'embedder « sentence-transformers » a besoin d'un dossier de modèle : "
                              "donnez dans RAG_EMBEDDER_MODEL_PATH le chemin d'un modèle sentence-transformers local")
        folder = self.options.model_path.expanduser().resolve()
        if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
            raise ConfigError(f"RAG_EMBEDDER_MODEL_PATH={folder} n'est pas un dossier de modèle "
                              "sentence-transformers (ni modules.json ni config.json)")
        st = import_sentence_transformers(self.name)
        try:
            model = st.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any loading failure becomes one clear line
            raise ConfigError(f"le modèle de {folder} ne se charge pas : {exc}") from None
        self._folder = folder
        self._use_model(model)

    def config(self) -> dict[str, str | int]:
        return {**super().config(), "model": f"{self._folder.name}#{folder_fingerprint(self._folder)}"}
