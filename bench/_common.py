"""Helpers shared by the bench scripts (run as ``python bench/x.py``, so this folder is
on ``sys.path``; each script puts the repository root there before importing this)."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from rag.config import load_settings
from rag.services import Services


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (inclusive method); the value itself for a single sample."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def indexed_services(embedder: str, prefix: str, data_dir: Path | None = None) -> Services:
    """Services for ``embedder`` on ``data_dir`` (default: a fresh temp dir named
    ``prefix...``), with the index built or brought up to date."""
    services = Services(load_settings(embedder=embedder, data_dir=data_dir or Path(tempfile.mkdtemp(prefix=prefix))))
    services.ensure_index()
    return services
