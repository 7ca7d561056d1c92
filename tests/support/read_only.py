"""A folder that cannot be written, even when the tests run as root."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


@contextmanager
def read_only_folder(files: Mapping[str, str] | None = None) -> Iterator[Path]:
    """A new folder under the system temp dir (reachable by any user) holding ``files``
    (name -> text), folder and files read-only (0o555, 0o444) for the block, removed
    after it. Root writes there all the same: write from inside :func:`unprivileged`."""
    folder = Path(tempfile.mkdtemp(prefix="rag-ro-"))
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
        (folder / name).chmod(0o444)
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


@contextmanager
def unprivileged() -> Iterator[None]:
    """The block without root's right to write anywhere: when the tests run as root, with
    the effective uid of nobody (``os.seteuid``, undone after it). The uid is the whole
    process's, so keep the block to the one call under test (``test_faults.py`` forks a
    child instead, where several calls run). A no-op for another user."""
    root = os.geteuid() == 0
    if root:
        os.seteuid(NOBODY)
    try:
        yield
    finally:
        if root:
            os.seteuid(0)
