"""What every index run shares, embedded or on a server: reading the corpus into chunks,
the fingerprints that say whether anything changed, the embedder record, and the diff
of the chunks against the store (embed and upsert only what changed, delete the rest).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from rag.catalogue.corpus import load_corpus
from rag.catalogue.fiche import Fiche
from rag.config import Settings
from rag.errors import IndexUnavailable, InputError
from rag.index import chunking
from rag.index.chunking import chunk_corpus
from rag.index.embeddings import Embedder
from rag.index.store import VectorStore
from rag.types import Chunk

log = logging.getLogger(__name__)

BATCH = 64
"""Chunks embedded and upserted together (also the granularity of crash recovery)."""

ProgressCallback = Callable[[int, int], None]


@dataclass
class IndexReport:
    """What an indexing run did; ``embedded`` counts vectors actually computed."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Corpus:
    """The corpus folder as indexed: its fiches, their chunks, the files skipped."""

    fiches: list[Fiche]
    chunks: list[Chunk]
    skipped: list[str]


def corpus_fingerprint(chunks: list[Chunk]) -> str:
    """A hash of the chunk ids and content hashes: equal iff the indexed content is."""
    digest = hashlib.sha256()
    for chunk in sorted(chunks, key=lambda c: c.id):
        digest.update(f"{chunk.id}\x1f{chunk.content_hash}\n".encode())
    return digest.hexdigest()


def catalogue_fingerprint(fiches: list[Fiche]) -> str:
    """A hash of the fiches themselves (a field no chunk carries changes it too)."""
    digest = hashlib.sha256()
    for fiche in sorted(fiches, key=lambda f: f.id):
        digest.update(fiche.model_dump_json().encode() + b"\n")
    return digest.hexdigest()


def load_chunks(settings: Settings) -> Corpus:
    """The corpus' fiches and chunks, and the malformed fiche files skipped (``path:line:
    reason``, logged; kept in the manifest so that an unchanged re-index still reports them)."""
    loaded = load_corpus(settings.corpus_dir)
    if not loaded.fiches:  # never empty the index because of a wrong RAG_CORPUS_DIR
        reason = f" ({loaded.errors[0]})" if loaded.errors else ""
        raise InputError(f"aucune fiche valide dans {settings.corpus_dir}{reason} : "
                         "lancez `python -m rag import EXPORT` ou réglez RAG_CORPUS_DIR")
    skipped = [str(error) for error in loaded.errors]
    warn_skipped(skipped)
    return Corpus(loaded.fiches, chunk_corpus(loaded.fiches, settings.chunk_tokens), skipped)


def warn_skipped(skipped: list[str]) -> None:
    """One warning per malformed fiche file left out of the index."""
    for error in skipped:
        log.warning("fiche ignorée : %s", error)


def embedder_key(settings: Settings) -> str:
    """Which embedder the settings select, known without loading its model."""
    return f"{settings.embedder}:{settings.embedder_model_path or ''}"


def config_record(config: dict) -> dict[str, str]:
    """An embedder config as recorded in the manifest (str values)."""
    return {k: str(v) for k, v in config.items()}


def same_embedder(settings: Settings, manifest: dict, record: dict[str, str] | None) -> bool:
    """Was the manifest's index built with this embedder (its full config ``record`` when
    we hold one, else the name the settings select)?"""
    if record is not None:
        return manifest.get("embedder_config") == record
    return manifest.get("embedder") == embedder_key(settings)


def files_key(settings: Settings) -> str:
    """Names, sizes and modification times of the corpus files, plus the chunking budget
    and code: equal keys mean equal chunks, known without parsing a file (fast path of
    an unchanged re-index on a large catalogue)."""
    digest = hashlib.sha256(f"{settings.chunk_tokens}".encode())
    for path in [Path(chunking.__file__), *sorted(settings.corpus_dir.glob("*.md"))]:
        stat = path.stat()
        digest.update(f"\n{path.name}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def sync_chunks(store: VectorStore, embedder: Embedder, chunks: list[Chunk], progress: bool,
                on_progress: ProgressCallback | None, check: Callable[[], None] = lambda: None) -> IndexReport:
    """Diff against the store, embed and upsert what changed, delete what went away.
    ``check`` runs before each batch (the server lease raises there once lost)."""
    stored = store.hashes()
    todo = [c for c in chunks if stored.get(c.id) != c.content_hash]
    current = {c.id for c in chunks}
    if len(current) != len(chunks):
        raise IndexUnavailable("passages en double dans le corpus : deux fichiers de fiches portent le même id")
    report = IndexReport(
        added=sum(c.id not in stored for c in todo),
        updated=sum(c.id in stored for c in todo),
        removed=len(stored.keys() - current),
        unchanged=len(chunks) - len(todo),
    )
    bar = tqdm(total=len(todo), desc="indexation", unit="passage", file=sys.stderr, disable=not progress)
    with bar:
        for start in range(0, len(todo), BATCH):
            check()
            batch = todo[start : start + BATCH]
            store.upsert(batch, embedder.embed_documents([c.indexed_text for c in batch]))
            report.embedded += len(batch)
            bar.update(len(batch))
            if on_progress:
                on_progress(report.embedded, len(todo))
    check()
    store.delete(sorted(stored.keys() - current))
    return report
