"""Fiche -> section chunks (one per section, split at sentence/list-item boundaries when
longer than the token budget), plus one short metadata chunk per fiche.

STUB: the Chunk model below is the shared interface; ``chunk_fiche`` is to be written.
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from rag.fiche import Fiche

METADATA_SECTION = "Fiche"
"""Section name of the metadata chunk (acteur, partenaires, ville...)."""


class Chunk(BaseModel):
    """One indexed passage. ``metadata`` is flat (str values) so Chroma can filter on it:
    keys ``ville``, ``echelle``, ``type_acteur``, ``partenaires`` (values joined by " | "),
    ``acteur``, ``lien``."""

    id: str  # "<fiche_id>::<section slug>::<part>" stable across re-imports
    fiche_id: str
    title: str
    section: str
    text: str
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def header(self) -> str:
        """The context header "Titre › Section" embedded and indexed with the text."""
        return f"{self.title} › {self.section}"

    @property
    def indexed_text(self) -> str:
        """What is embedded and BM25-indexed: header then text."""
        return f"{self.header}\n{self.text}"

    @property
    def content_hash(self) -> str:
        """Key for incremental indexing: changes whenever anything indexed changes."""
        payload = "\x1f".join([self.indexed_text, *sorted(f"{k}={v}" for k, v in self.metadata.items())])
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


def chunk_fiche(fiche: Fiche, max_tokens: int) -> list[Chunk]:  # pragma: no cover - stub
    raise NotImplementedError


def chunk_corpus(fiches: list[Fiche], max_tokens: int) -> list[Chunk]:
    """All chunks of a corpus, in fiche order."""
    return [chunk for fiche in fiches for chunk in chunk_fiche(fiche, max_tokens)]
