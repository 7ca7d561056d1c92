"""Indexing against a Chroma server (``RAG_CHROMA_URL``): the steps of
:mod:`rag.index.indexing`, with what replicas on other machines need kept on the server.

1. take the lease (:mod:`rag.index.lease`): a second run, from any machine, is refused
   with the holder and the expiry; the lease is renewed while the run lasts and checked
   before each batch;
2. stop if the index record already describes this corpus (files, or chunk and fiche
   fingerprints) and this embedder;
3. mark the meta collection dirty; write the new and changed fiches to the generation's
   fiches collection, embed and upsert the changed chunks, delete the removed chunks,
   then the removed fiches (a replica loading meanwhile finds every fiche its chunks name);
4. build the BM25 index of the chunks and store it in the meta collection under a new
   ``run`` id (:mod:`rag.index.lexical_blob`);
5. publish the index record (generation pointer, that ``run`` id, the blob's parts,
   fingerprints, embedder) in one upsert, delete generations older than the previous
   one and the blobs of older runs, clear the dirty mark.

A replica loads the blob of the record's ``run`` when the record changes; it rebuilds
BM25 from the collection only when the blob is missing or damaged (an index written
before blobs existed). ``--rebuild`` fills a new generation (chunks and fiches
collections) that replicas only see once step 5 switches the pointer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from rag.config import Settings
from rag.index.embeddings import Embedder, embedder_from_settings
from rag.index.fiche_store import FicheStore
from rag.index.lease import Lease
from rag.index.lexical import LexicalIndex
from rag.index.lexical_blob import prune_blobs, write_blob
from rag.index.meta import DIRTY, RECORD
from rag.index.runs import (
    IndexReport,
    ProgressCallback,
    catalogue_fingerprint,
    config_record,
    corpus_fingerprint,
    embedder_key,
    files_key,
    load_chunks,
    same_embedder,
    sync_chunks,
    warn_skipped,
)
from rag.index.store import VectorStore


def index_on_server(settings: Settings, *, rebuild: bool = False, progress: bool = False,
                    embedder: Embedder | None = None, store: VectorStore | None = None,
                    on_progress: ProgressCallback | None = None) -> IndexReport:
    """Bring the server's index in line with the corpus folder (see module doc)."""
    base = store or VectorStore(settings)
    meta = base.meta()
    with Lease(meta) as lease:
        record = None if rebuild else meta.record_unless_dirty()
        files = files_key(settings) if settings.corpus_dir.is_dir() else ""
        config = embedder.config() if embedder is not None else None
        held = config_record(config) if config is not None else None
        if record and _describes(settings, record, held, files=files):
            warn_skipped(record.get("skipped", []))
            return IndexReport(unchanged=record.get("chunks", 0))
        corpus = load_chunks(settings)
        fingerprints = {"fingerprint": corpus_fingerprint(corpus.chunks),
                        "catalogue": catalogue_fingerprint(corpus.fiches)}
        if record and _describes(settings, record, held, **fingerprints):  # files touched, same content
            meta.put(RECORD, {**record, "files": files, "skipped": corpus.skipped})  # same run: no reload
            return IndexReport(unchanged=len(corpus.chunks))
        if embedder is None or config is None:
            embedder = embedder_from_settings(settings)
            config = embedder.config()
        target = VectorStore.fresh(settings) if rebuild else base
        meta.put(DIRTY, {"holder": lease.holder, "since": time.time()})
        target.open(config, create=True)
        fiches = FicheStore(target.connection, target.fiches_name())
        fiches.sync(corpus.fiches, remove=False)
        report = sync_chunks(target, embedder, corpus.chunks, progress, on_progress, check=lease.check)
        fiches.sync(corpus.fiches, remove=True)
        run = uuid.uuid4().hex
        lexical = LexicalIndex.build(sorted(corpus.chunks, key=lambda c: c.id), fingerprints["fingerprint"])
        lease.check()
        blob = write_blob(meta, run, lexical)
        lease.check()
        replaced = target.commit({
            **fingerprints,
            **blob,
            "run": run,
            "files": files,
            "chunks": len(corpus.chunks),
            "fiches": len(corpus.fiches),
            "skipped": corpus.skipped,
            "embedder": embedder_key(settings),
            "embedder_config": config_record(config),
        })
        prune_blobs(meta, keep={run, str(replaced.get("run", ""))})  # replicas may be loading the previous one
        meta.delete([DIRTY])
        return report


def _describes(settings: Settings, record: dict[str, Any], held: dict[str, str] | None, **expected: str) -> bool:
    """Does the index record describe this corpus (``expected`` fields) and embedder?"""
    return all(record.get(k) == v for k, v in expected.items()) and same_embedder(settings, record, held)

