"""The BM25 index of a published run, kept on the Chroma server so that a replica fetches
it instead of paging every chunk out of the collection and rebuilding BM25 (100k chunks:
see docs/deploy.md for the figures).

The index job saves its :class:`~rag.index.lexical.LexicalIndex` (chunk table and BM25
arrays, the form :meth:`LexicalIndex.save` writes), tars it, compresses it (zlib) and
stores it base64-encoded in the meta collection as records ``lexical-<run>-<n>`` of at
most :data:`PART` characters, before it publishes the index record naming that ``run``
with the number of parts and their SHA-256. A replica reads the parts of the record's
own run; an old index (no parts named), a missing part, a damaged or mismatching blob
make :func:`read_blob` return None and the replica falls back to the collection.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from rag.index.lexical import LexicalIndex
from rag.index.meta import IndexMeta

log = logging.getLogger(__name__)

PREFIX = "lexical-"
PART = 4_000_000
"""Characters of base64 per record (Chroma documents of a few MB; read two records per request)."""


def part_ids(run: str, parts: int) -> list[str]:
    """The meta record ids of a run's blob."""
    return [f"{PREFIX}{run}-{n}" for n in range(parts)]


def pack(index: LexicalIndex) -> bytes:
    """The index as compressed bytes (a tar of the files :meth:`LexicalIndex.save` writes)."""
    with tempfile.TemporaryDirectory(prefix="rag-lexical-") as tmp:
        directory = Path(tmp) / "index"
        index.save(directory)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(directory, arcname="index")
    return zlib.compress(buffer.getvalue(), 6)


def unpack(data: bytes) -> LexicalIndex:
    """The index :func:`pack` packed (raises on any damage)."""
    with tempfile.TemporaryDirectory(prefix="rag-lexical-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(zlib.decompress(data)), mode="r") as tar:
            tar.extractall(tmp, filter="data")
        return LexicalIndex.load(Path(tmp) / "index")


def write_blob(meta: IndexMeta, run: str, index: LexicalIndex) -> dict[str, Any]:
    """Store ``index`` as the blob of ``run``; returns the fields the index record carries
    (``lexical_parts``, ``lexical_sha256``)."""
    text = base64.b64encode(pack(index)).decode("ascii")
    parts = [text[start : start + PART] for start in range(0, len(text), PART)]
    for record_id, part in zip(part_ids(run, len(parts)), parts, strict=True):
        meta.put(record_id, {"run": run, "data": part})
    return {"lexical_parts": len(parts), "lexical_sha256": hashlib.sha256(text.encode("ascii")).hexdigest()}


def read_blob(meta: IndexMeta, record: dict[str, Any]) -> LexicalIndex | None:
    """The BM25 index stored for the record's run, or None when there is none usable
    (logged: the caller rebuilds it from the collection)."""
    run, parts = str(record.get("run", "")), record.get("lexical_parts")
    if not run or not isinstance(parts, int) or parts < 1:
        return None
    try:
        ids = part_ids(run, parts)
        found = {i: v for start in range(0, parts, 2) for i, v in meta.get(ids[start : start + 2]).items()}
        if any(found.get(i, {}).get("run") != run for i in ids):
            log.warning("index BM25 du run %s incomplet sur le serveur : reconstruit depuis la collection", run)
            return None
        text = "".join(str(found[i].get("data", "")) for i in ids)
        if hashlib.sha256(text.encode("ascii")).hexdigest() != record.get("lexical_sha256"):
            raise ValueError("empreinte SHA-256 différente")
        index = unpack(base64.b64decode(text))
    except Exception as exc:  # a damaged blob must not stop a replica: the collection has it all
        log.warning("index BM25 du run %s illisible (%s) : reconstruit depuis la collection", run, exc)
        return None
    if index.fingerprint != record.get("fingerprint") or len(index.chunks) != record.get("chunks"):
        log.warning("index BM25 du run %s ne correspond pas à l'index publié : reconstruit", run)
        return None
    return index


def prune_blobs(meta: IndexMeta, keep: set[str]) -> None:
    """Delete the blobs of runs not in ``keep`` (the published run and the previous one,
    which a replica may still be loading)."""
    stale = [i for i in meta.ids(PREFIX) if i[len(PREFIX) :].rsplit("-", 1)[0] not in keep]
    meta.delete(stale)
