"""Fixtures of the AppTest UI tests: the environment the app reads its settings from
(AppTest runs the page script in this process). Each module gets its own data dir (one
index, one conversations database), and the app caches its Services per settings, so no
module sees another's index or backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fake_llm_server import FakeLLMServer
from tests.support.ui_fixtures import use_env


@pytest.fixture(scope="module")
def module_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir shared by a module's extractive-backend tests; each test works in its
    own conversation."""
    return tmp_path_factory.mktemp("app-data")


@pytest.fixture
def app_env(module_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Env for the app: bundled corpus, hashing embedder, extractive backend."""
    use_env(monkeypatch, module_data)
    return module_data


@pytest.fixture
def llm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_llm: FakeLLMServer) -> FakeLLMServer:
    """The openai backend on our loopback fake server, no retries, a data dir of the
    test's own (the windows a backend learnt are not shared)."""
    use_env(monkeypatch, tmp_path / "data", backend="openai")
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake_llm.url + "/v1")
    monkeypatch.setenv("RAG_LLM_MODEL", "test-model")
    monkeypatch.setenv("RAG_MAX_RETRIES", "0")
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-test-SECRET-456")
    return fake_llm
