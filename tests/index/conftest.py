"""Fixtures of the index tests: the seed export imported once per session, and settings
for a Chroma server holding it (the session's ``chroma run``; checks every 0.2 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.catalogue.corpus import write_fiches
from rag.catalogue.fiche import Fiche
from rag.config import Settings
from tests.support.chroma_server import ChromaServer
from tests.support.index_helpers import import_seed, make_settings


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> list[Fiche]:
    return import_seed(tmp_path_factory.mktemp("seed") / "fiches")


@pytest.fixture
def server_settings(tmp_path: Path, seed: list[Fiche], chroma_server: ChromaServer) -> Settings:
    """The seed in the test's corpus folder, indexed on the session's Chroma server."""
    write_fiches(seed, tmp_path / "fiches")
    return make_settings(tmp_path, tmp_path / "fiches", chroma_url=chroma_server.url, index_check_seconds=0.2)
