"""Incremental indexing: corpus -> chunks -> only new/changed vectors -> store + BM25.

Chunks are keyed by id and content hash; the store itself is the truth to diff against,
so a run interrupted anywhere (even by SIGKILL) is completed by the next one. Order:

1. take the data dir's write lock (a second writer gets :class:`IndexLocked`);
2. if the manifest says the store already holds exactly this corpus, stop there
   (unchanged corpus: no store read, no model load, zero embeddings; unchanged file
   names, sizes and mtimes: not even a file parsed);
3. mark the index dirty, embed and upsert new/changed chunks in batches, delete removed
   ones (the store stays queryable throughout: each batch is a Chroma transaction);
4. save the BM25 index for the new corpus fingerprint, commit the store generation,
   then write the manifest atomically and clear the dirty mark.

Readers use the manifest's BM25 index, so until step 4 completes they keep the previous
one. ``--rebuild`` fills a fresh store generation, switched in at step 4.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import filelock
from tqdm import tqdm

from rag.catalogue.corpus import load_corpus
from rag.config import Settings
from rag.errors import IndexError_, IndexLocked, InputError
from rag.index import chunking
from rag.index.chunking import chunk_corpus
from rag.index.embeddings import Embedder, embedder_from_settings
from rag.index.files import write_json_atomic
from rag.index.lexical import lexical_dir, load_or_build, prune
from rag.index.store import VectorStore, read_generations
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


def corpus_fingerprint(chunks: list[Chunk]) -> str:
    """A hash of the chunk ids and content hashes: equal iff the indexed content is."""
    digest = hashlib.sha256()
    for chunk in sorted(chunks, key=lambda c: c.id):
        digest.update(f"{chunk.id}\x1f{chunk.content_hash}\n".encode())
    return digest.hexdigest()


def load_chunks(settings: Settings) -> tuple[list[str], list[Chunk]]:
    """The corpus' chunks, and the malformed fiche files skipped (``path:line: reason``,
    logged; kept in the manifest so that an unchanged re-index still reports them)."""
    loaded = load_corpus(settings.corpus_dir)
    if not loaded.fiches:  # never empty the index because of a wrong RAG_CORPUS_DIR
        reason = f" ({loaded.errors[0]})" if loaded.errors else ""
        raise InputError(f"no valid fiche in {settings.corpus_dir}{reason}: run `python -m rag import EXPORT` "
                         "or set RAG_CORPUS_DIR")
    skipped = [str(error) for error in loaded.errors]
    warn_skipped(skipped)
    return skipped, chunk_corpus(loaded.fiches, settings.chunk_tokens)


def warn_skipped(skipped: list[str]) -> None:
    """One warning per malformed fiche file left out of the index."""
    for error in skipped:
        log.warning("fiche ignorée : %s", error)


def manifest_path(data_dir: Path) -> Path:
    return data_dir / "index.json"


def read_manifest(data_dir: Path) -> dict | None:
    """The last completed run's record (what readers use), or None (missing, damaged)."""
    try:
        return json.loads(manifest_path(data_dir).read_text())
    except (OSError, ValueError):
        return None


def embedder_key(settings: Settings) -> str:
    """Which embedder the settings select, known without loading its model."""
    return f"{settings.embedder}:{settings.embedder_model_path or ''}"


def _config_record(config: dict) -> dict[str, str]:
    """An embedder config as recorded in the manifest (str values)."""
    return {k: str(v) for k, v in config.items()}


def _same_embedder(settings: Settings, manifest: dict, record: dict[str, str] | None) -> bool:
    """Was the manifest's index built with this embedder (its full config ``record`` when
    we hold one, else the name the settings select)?"""
    if record is not None:
        return manifest.get("embedder_config") == record
    return manifest.get("embedder") == embedder_key(settings)


def store_target(settings: Settings) -> str:
    """The current store location: server URL, or embedded generation directory."""
    if settings.chroma_url:
        return f"{settings.chroma_url}/{settings.collection}"
    return f"{settings.data_dir / 'chroma' / str(read_generations(settings.data_dir)['current'])}/{settings.collection}"


def files_key(settings: Settings) -> str:
    """Names, sizes and modification times of the corpus files, plus the chunking budget
    and code: equal keys mean equal chunks, known without parsing a file (fast path of
    an unchanged re-index on a large catalogue)."""
    digest = hashlib.sha256(f"{settings.chunk_tokens}".encode())
    for path in [Path(chunking.__file__), *sorted(settings.corpus_dir.glob("*.md"))]:
        stat = path.stat()
        digest.update(f"\n{path.name}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def is_current(settings: Settings, manifest: dict | None, embedder: Embedder | None, **expected: str) -> bool:
    """Does the manifest vouch that store and BM25 hold this corpus (``expected`` fields:
    ``files`` or ``fingerprint``) for this embedder, at the current store location?"""
    record = _config_record(embedder.config()) if embedder is not None else None
    return _is_current(settings, manifest, record, **expected)


def _is_current(settings: Settings, manifest: dict | None, record: dict[str, str] | None, **expected: str) -> bool:
    """:func:`is_current` given the embedder's config record (None: no embedder held)."""
    if not manifest or any(manifest.get(k) != v for k, v in expected.items()):
        return False
    if not _same_embedder(settings, manifest, record):
        return False
    target = store_target(settings)
    embedded_ok = settings.chroma_url or Path(target).parent.is_dir()
    return manifest.get("target") == target and bool(embedded_ok) and Path(manifest.get("lexical", "")).is_dir()


def _lock(settings: Settings) -> filelock.FileLock:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(settings.data_dir / "index.lock"), timeout=0)


def index_corpus(
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: bool = False,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
    on_progress: ProgressCallback | None = None,
) -> IndexReport:
    """Bring the store and the BM25 index in line with the corpus (see module doc)."""
    lock = _lock(settings)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise IndexLocked(
            f"another indexing is running on {settings.data_dir}; wait for it to finish "
            "(embedded Chroma allows one writer per data dir)"
        ) from None
    try:
        return _index_locked(settings, rebuild, progress, embedder, store, on_progress)
    finally:
        lock.release()


def _index_locked(settings, rebuild, progress, embedder, store, on_progress) -> IndexReport:
    # an interrupted run left the store ahead of the manifest: diff against the store
    interrupted = (settings.data_dir / "index.dirty").exists()
    manifest = None if rebuild or interrupted else read_manifest(settings.data_dir)
    files = files_key(settings) if settings.corpus_dir.is_dir() else ""
    # the embedder's config, computed once (it may hash a model folder); None until held
    config = embedder.config() if embedder is not None else None
    record = _config_record(config) if config is not None else None
    if _is_current(settings, manifest, record, files=files):
        warn_skipped(manifest.get("skipped", []))
        return IndexReport(unchanged=manifest.get("chunks", 0))
    skipped, chunks = load_chunks(settings)
    fingerprint = corpus_fingerprint(chunks)
    if _is_current(settings, manifest, record, fingerprint=fingerprint):  # files touched, same content
        _write_manifest(settings, {**manifest, "files": files, "skipped": skipped})
        return IndexReport(unchanged=len(chunks))
    if embedder is None:
        embedder = embedder_from_settings(settings)
        config = embedder.config()
        record = _config_record(config)
    store = VectorStore.fresh(settings) if rebuild else store or VectorStore(settings)
    (settings.data_dir / "index.dirty").touch()
    store.open(config, create=True)
    report = _sync(store, embedder, chunks, progress, on_progress)
    lexical = load_or_build(settings.data_dir, chunks, fingerprint, fresh=rebuild)
    store.commit()
    _write_manifest(settings, {
        "fingerprint": fingerprint,
        "files": files,
        "chunks": len(chunks),
        "skipped": skipped,
        "embedder": embedder_key(settings),
        "embedder_config": record,
        "target": store_target(settings),
        "lexical": str(lexical_dir(settings.data_dir, fingerprint)),
    })
    (settings.data_dir / "index.dirty").unlink(missing_ok=True)
    prune(settings.data_dir, keep=lexical.fingerprint)
    return report


def _sync(store: VectorStore, embedder: Embedder, chunks: list[Chunk], progress: bool,
          on_progress: ProgressCallback | None) -> IndexReport:
    """Diff against the store, embed and upsert what changed, delete what went away."""
    stored = store.hashes()
    todo = [c for c in chunks if stored.get(c.id) != c.content_hash]
    current = {c.id for c in chunks}
    if len(current) != len(chunks):
        raise IndexError_("duplicate chunk ids in the corpus: two fiche files share an id")
    report = IndexReport(
        added=sum(c.id not in stored for c in todo),
        updated=sum(c.id in stored for c in todo),
        removed=len(stored.keys() - current),
        unchanged=len(chunks) - len(todo),
    )
    bar = tqdm(total=len(todo), desc="indexation", unit="passage", file=sys.stderr, disable=not progress)
    with bar:
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            store.upsert(batch, embedder.embed_documents([c.indexed_text for c in batch]))
            report.embedded += len(batch)
            bar.update(len(batch))
            if on_progress:
                on_progress(report.embedded, len(todo))
    store.delete(sorted(stored.keys() - current))
    return report


def _write_manifest(settings: Settings, manifest: dict) -> None:
    """Record the completed state atomically (write a temp file, then ``os.replace``)."""
    write_json_atomic(manifest_path(settings.data_dir), manifest)
