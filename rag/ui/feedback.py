"""User feedback on answers: one JSON line per record in ``<data_dir>/feedback.jsonl``.

Appends are atomic: the line is encoded first, then written with a single ``os.write``
on a descriptor opened with ``O_APPEND`` while holding a file lock, so two browser tabs
(two threads or two processes) writing at once never interleave or lose a line.
Secrets never reach the file: keys that look like credentials are dropped, and any
value equal to the configured API key is masked.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

FEEDBACK_FILE = "feedback.jsonl"
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|authorization)", re.IGNORECASE)


def _scrub(value: object, secrets: tuple[str, ...]) -> object:
    """``value`` with credential-like keys removed and known secret strings masked."""
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "***")
    return value


def append_feedback(data_dir: Path, record: dict, *, secrets: tuple[str, ...] = ()) -> Path:
    """Append ``record`` (plus a UTC ``timestamp`` if missing) as one JSON line to
    ``data_dir/feedback.jsonl`` and return the file's path. ``secrets`` are strings to
    mask wherever they appear (pass the API key if one is configured)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FEEDBACK_FILE
    clean = _scrub(dict(record), tuple(s for s in secrets if s))
    clean.setdefault("timestamp", datetime.now(UTC).isoformat(timespec="seconds"))
    line = (json.dumps(clean, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    with FileLock(str(path) + ".lock", timeout=30):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write is rare but must not tear the line
                written += os.write(fd, line[written:])
        finally:
            os.close(fd)
    return path
