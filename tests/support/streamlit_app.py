"""The chat as a user starts it, for the browser tests: ``make run`` in a fresh copy of
the project, driven by Debian's Chromium through Playwright.

``make run`` is ``.venv/bin/python -m streamlit run app.py`` from the project folder:
the project's ``.streamlit/config.toml``, the default data dir ``.data`` *inside* the
project, the default file watcher, no ``RAG_*`` variable. :func:`project_copy` copies
the working tree (without ``.venv``, ``.data``, ``.git``, caches) to a tmp folder and
:class:`MakeRun` runs the venv's Streamlit there with that folder as working directory,
changing nothing but ``--server.port`` (a free one). The suite's own ``RAG_*`` variables
(``tests/conftest.py`` points ``RAG_DATA_DIR`` to a scratch dir) are removed from the
child's environment, so it reads exactly the settings ``make run`` reads.

``make_run_app`` (session-scoped, shared by every browser module) is one such server
over a copy holding the bundled fiches plus the hostile fiche of
:mod:`tests.support.ui_fixtures` (written into the copy's ``corpus/fiches``: still the
default corpus dir); ``chromium`` is Debian's Chromium driven by Playwright (its own
browser download is not used). Tests open their own contexts (one per user session).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from rag.catalogue.corpus import write_fiches
from tests.support.net import free_port
from tests.support.ui_fixtures import ROOT, injection_fiche

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SKIPPED = (".venv", ".data", ".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
           ".hypothesis", ".schemathesis", "node_modules", "artifacts", "*.egg-info")
"""What a fresh clone does not have (or what is not the app): never copied."""


def project_copy(target: Path, source: Path = ROOT) -> Path:
    """``source``'s working tree copied to ``target`` as a fresh clone would hold it."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True)
    return target


def make_run_env() -> dict[str, str]:
    """The environment of ``make run`` typed in a shell: this process's, minus the
    suite's ``RAG_*`` settings and Streamlit overrides."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "STREAMLIT_"))}


@dataclass
class MakeRun:
    """``.venv/bin/python -m streamlit run app.py --server.port P`` with ``cwd=project``."""

    project: Path
    port: int = 0
    process: subprocess.Popen | None = None
    started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.project.parent / f"streamlit-{self.project.name}.log"

    def start(self, timeout: float = 120.0) -> MakeRun:
        """Start the server and wait until its health endpoint answers."""
        self.port = self.port or free_port()
        self.started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port)],
                cwd=self.project, env=make_run_env(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.read().strip() == b"ok":
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("streamlit did not become healthy")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture(scope="session")
def make_run_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    """The chat started as ``make run`` starts it, over a copy of the project whose
    corpus also holds the hostile fiche; shared by every browser test."""
    project = project_copy(tmp_path_factory.mktemp("make-run") / "project")
    write_fiches([injection_fiche()], project / "corpus" / "fiches")
    app = MakeRun(project).start()
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium, shared by the browser tests."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
