"""Embedders behind one protocol, registered by name (STUB: interface only so far).

An embedder turns texts into L2-normalised float32 vectors. Its ``name`` and ``config()``
are stored in the collection metadata, so querying an index built with another embedder
is detected (``EmbedderMismatch``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from rag.errors import ConfigError


class Embedder(ABC):
    """The protocol. Subclasses set ``name`` and implement ``_embed``; thread-safe."""

    name: ClassVar[str]
    dim: int

    @abstractmethod
    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32, rows L2-normalised."""

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised. Override for asymmetric models (e5 "query: ")."""
        return self.embed_documents([text])[0]

    def config(self) -> dict[str, str | int]:
        """What identifies the vectors: stored in the collection's metadata."""
        return {"embedder": self.name, "dim": self.dim}


REGISTRY: dict[str, type[Embedder]] = {}


def register(cls: type[Embedder]) -> type[Embedder]:
    """Class decorator: make an embedder selectable by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def get_embedder(name: str, **options: object) -> Embedder:
    """Instantiate a registered embedder, or fail listing the valid names."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown embedder '{name}'; valid: {', '.join(sorted(REGISTRY))} (RAG_EMBEDDER)")
    return REGISTRY[name](**options)
