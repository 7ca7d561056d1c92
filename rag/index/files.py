"""File helpers of the index side: atomic JSON writes and clean-up of stale folders.
Shared by the vector store and the BM25 index, so neither depends on the other."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (a temp file, then ``os.replace``)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def remove_except(root: Path, keep_names: set[str | None]) -> None:
    """Delete (best effort) the directories in ``root`` whose name is not in ``keep_names``."""
    for path in root.iterdir() if root.exists() else []:
        if path.is_dir() and path.name not in keep_names:
            shutil.rmtree(path, ignore_errors=True)
