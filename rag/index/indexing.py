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

With ``RAG_CHROMA_URL`` the same steps run against the server, where the lock is a
lease and the manifest the index record (:mod:`rag.index.server_indexing`).
"""

from __future__ import annotations

import json
from pathlib import Path

import filelock

from rag.config import Settings
from rag.errors import IndexLocked
from rag.index.embeddings import Embedder, embedder_from_settings
from rag.index.files import write_json_atomic
from rag.index.lexical import lexical_dir, load_or_build, prune
from rag.index.runs import (
    IndexReport,
    ProgressCallback,
    config_record,
    corpus_fingerprint,
    embedder_key,
    files_key,
    load_chunks,
    same_embedder,
    sync_chunks,
    warn_skipped,
)
from rag.index.server_indexing import index_on_server
from rag.index.store import VectorStore, read_generations

__all__ = ["IndexReport", "index_corpus", "manifest_path", "read_manifest", "store_target"]


def manifest_path(data_dir: Path) -> Path:
    return data_dir / "index.json"


def read_manifest(data_dir: Path) -> dict | None:
    """The last completed run's record (what readers use), or None (missing, damaged)."""
    try:
        return json.loads(manifest_path(data_dir).read_text())
    except (OSError, ValueError):
        return None


def store_target(settings: Settings) -> str:
    """The current embedded store location (generation directory and collection)."""
    return f"{settings.data_dir / 'chroma' / str(read_generations(settings.data_dir)['current'])}/{settings.collection}"


def _is_current(settings: Settings, manifest: dict | None, record: dict[str, str] | None, **expected: str) -> bool:
    """Does the manifest vouch that store and BM25 hold this corpus (``expected`` fields:
    ``files`` or ``fingerprint``) for this embedder (its config ``record``; None: no
    embedder held yet), at the current store location?"""
    if not manifest or any(manifest.get(k) != v for k, v in expected.items()):
        return False
    if not same_embedder(settings, manifest, record):
        return False
    target = store_target(settings)
    lexical = Path(manifest.get("lexical", ""))
    return manifest.get("target") == target and Path(target).parent.is_dir() and lexical.is_dir()


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
    if settings.chroma_url:
        return index_on_server(settings, rebuild=rebuild, progress=progress, embedder=embedder, store=store,
                               on_progress=on_progress)
    lock = _lock(settings)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise IndexLocked(
            f"une autre indexation tourne sur {settings.data_dir} : attendez qu'elle finisse "
            "(Chroma embarqué n'admet qu'un écrivain par dossier de données)"
        ) from None
    try:
        return _index_locked(settings, rebuild, progress, embedder, store, on_progress)
    finally:
        lock.release()


def _index_locked(settings: Settings, rebuild: bool, progress: bool, embedder: Embedder | None,
                  store: VectorStore | None, on_progress: ProgressCallback | None) -> IndexReport:
    # an interrupted run left the store ahead of the manifest: diff against the store
    interrupted = (settings.data_dir / "index.dirty").exists()
    manifest = None if rebuild or interrupted else read_manifest(settings.data_dir)
    files = files_key(settings) if settings.corpus_dir.is_dir() else ""
    # the embedder's config, computed once (it may hash a model folder); None until held
    config = embedder.config() if embedder is not None else None
    record = config_record(config) if config is not None else None
    if manifest and _is_current(settings, manifest, record, files=files):
        warn_skipped(manifest.get("skipped", []))
        return IndexReport(unchanged=manifest.get("chunks", 0))
    corpus = load_chunks(settings)
    fingerprint = corpus_fingerprint(corpus.chunks)
    if manifest and _is_current(settings, manifest, record, fingerprint=fingerprint):  # files touched, same content
        _write_manifest(settings, {**manifest, "files": files, "skipped": corpus.skipped})
        return IndexReport(unchanged=len(corpus.chunks))
    if embedder is None or config is None:
        embedder = embedder_from_settings(settings)
        config = embedder.config()
    store = VectorStore.fresh(settings) if rebuild else store or VectorStore(settings)
    (settings.data_dir / "index.dirty").touch()
    store.open(config, create=True)
    report = sync_chunks(store, embedder, corpus.chunks, progress, on_progress)
    lexical = load_or_build(settings.data_dir, corpus.chunks, fingerprint, fresh=rebuild)
    store.commit()
    _write_manifest(settings, {
        "fingerprint": fingerprint,
        "files": files,
        "chunks": len(corpus.chunks),
        "skipped": corpus.skipped,
        "embedder": embedder_key(settings),
        "embedder_config": config_record(config),
        "target": store_target(settings),
        "lexical": str(lexical_dir(settings.data_dir, fingerprint)),
    })
    (settings.data_dir / "index.dirty").unlink(missing_ok=True)
    prune(settings.data_dir, keep=lexical.fingerprint)
    return report


def _write_manifest(settings: Settings, manifest: dict) -> None:
    """Record the completed state atomically (write a temp file, then ``os.replace``)."""
    write_json_atomic(manifest_path(settings.data_dir), manifest)
