"""Shared helpers of the store / indexing / retrieval tests: settings on tmp dirs, a
counting embedder (a real subclass of the hashing one), small hand-made fiches and the
seed catalogue imported once per session."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.catalogue.corpus import write_fiches
from rag.catalogue.fiche import ECHELLE, PARTENAIRES, TYPE_ACTEUR, VILLE, Fiche
from rag.catalogue.importer import import_export
from rag.config import Settings, load_settings
from rag.index.embeddings.hashing import HashingEmbedder, HashingOptions
from rag.index.indexing import index_corpus
from tests.conftest import ROOT, SEED_EXPORT
from tests.support.chroma_server import ChromaServer


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it embeds (documents and queries)."""

    def __init__(self, dim: int = 256) -> None:
        super().__init__(HashingOptions(dim=dim))
        self.documents = 0
        self.queries = 0
        self._count_lock = threading.Lock()

    def embed_documents(self, texts: list[str]):
        with self._count_lock:
            self.documents += len(texts)
        return super().embed_documents(texts)

    def embed_query(self, text: str):
        with self._count_lock:
            self.queries += 1
        return super().embed_query(text)


def make_settings(root: Path, corpus_dir: Path, chroma_url: str | None = None, **overrides: object) -> Settings:
    """Settings for one test: its own data dir (and collection, in server mode)."""
    overrides.setdefault("embedder", "hashing")
    return load_settings(
        corpus_dir=corpus_dir,
        data_dir=root / "data",
        chroma_url=chroma_url,
        collection=f"t{uuid.uuid4().hex[:10]}" if chroma_url else "fiches",
        **overrides,
    )


def fiche(fid: str, title: str, sections: dict[str, str], ville: str = "", partenaires: list[str] | None = None,
          echelle: str = "", types: list[str] | None = None) -> Fiche:
    """A fiche built by hand."""
    metadata: dict = {}
    if ville:
        metadata[VILLE] = ville
    if partenaires:
        metadata[PARTENAIRES] = partenaires
    if echelle:
        metadata[ECHELLE] = echelle
    if types:
        metadata[TYPE_ACTEUR] = types
    return Fiche(id=fid, title=title, sections=sections, metadata=metadata)


def import_seed(out_dir: Path) -> list[Fiche]:
    """The bundled seed export imported into ``out_dir`` (10 fiches)."""
    return import_export(SEED_EXPORT, out_dir, ROOT / "corpus" / "denylist.txt", ROOT / "corpus" / "places.csv").fiches


def write_corpus(fiches: list[Fiche], out_dir: Path) -> Path:
    write_fiches(fiches, out_dir)
    return out_dir


@contextmanager
def own_server_index(tmp_path: Path, seed: list[Fiche]) -> Iterator[tuple[ChromaServer, Settings]]:
    """A Chroma server of the test's own (the test may stop and start it) holding the seed,
    indexed with the counting embedder; checks every 0.1 s. Stopped after the block."""
    server = ChromaServer(tmp_path / "own-db").start()
    try:
        write_fiches(seed, tmp_path / "fiches")
        settings = make_settings(tmp_path, tmp_path / "fiches", chroma_url=server.url, index_check_seconds=0.1)
        index_corpus(settings, embedder=CountingEmbedder())
        yield server, settings
    finally:
        server.stop()
