"""Suite-wide setup: no network, and no test ever touches the repository's data dir.

The servers' fixtures live next to what they serve (``tests/support/``) and are
registered here, once, as plugins: test modules use them by name, never import them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

pytest_plugins = ["tests.support.fake_llm_server", "tests.support.chroma_server", "tests.support.postgres",
                  "tests.support.api_server", "tests.support.llama", "tests.support.streamlit_app"]

# CI replays the same examples every run (derandomized), so a landing run cannot fail on
# an example never seen before; locally, each run explores new examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SEED_EXPORT = ROOT / "corpus" / "raw" / "000_d9e11f9bb21b0018.txt"
BUNDLED_FICHES = ROOT / "corpus" / "fiches"


def pytest_configure(config: pytest.Config) -> None:
    """Offline everywhere; a session-wide scratch data dir as the default RAG_DATA_DIR."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ["RAG_DATA_DIR"] = tempfile.mkdtemp(prefix="rag-test-data-")
    os.environ.pop("RAG_CHROMA_URL", None)
    os.environ.pop("RAG_BACKEND", None)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data dir for one test."""
    path = tmp_path / "data"
    path.mkdir()
    return path
