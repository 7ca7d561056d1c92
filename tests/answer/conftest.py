"""Fixtures of the answer tests that talk to the fake LLM server: the bundled catalogue
indexed once per session (hashing embedder; no retries and short timeouts, so faults
show at once), and fresh services on it per test (backends, and the context windows
they learnt, are not shared between tests)."""

from __future__ import annotations

import pytest

from rag.config import load_settings
from rag.services import Services


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The bundled catalogue indexed once with the hashing embedder."""
    services = Services(load_settings(data_dir=tmp_path_factory.mktemp("llm-path"), embedder="hashing",
                                      max_retries=0, connect_timeout=1.0, read_timeout=5.0))
    services.ensure_index()
    return services


@pytest.fixture
def hashed(indexed: Services) -> Services:
    """Fresh services on that index."""
    return Services(indexed.settings)
