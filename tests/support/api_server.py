"""Real API servers on 127.0.0.1 for ``tests/api``.

* ``api_process`` (session): ``python -m rag serve`` in a subprocess, the product's own
  entry point, over the bundled catalogue with the ``hashing`` embedder, a scratch data
  dir, and bearer keys (two from ``RAG_API_KEYS``, one from ``RAG_API_KEYS_FILE``).
* ``llm_api`` (session): the app on uvicorn in a thread, answering with the ``openai``
  backend against our fake LLM server (``llm_server``), so tests can see what reaches the
  LLM and make it fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.config import load_settings
from tests.conftest import BUNDLED_FICHES, ROOT
from tests.support.fake_llm_server import FakeLLMServer
from tests.support.net import free_port

KEYS = ("sk-test-fiches-key-one", "sk-test-fiches-key-two")
FILE_KEY = "sk-test-fiches-key-from-file"


@dataclass
class ApiProcess:
    """A running ``python -m rag serve``."""

    url: str
    key: str
    data_dir: Path
    log: Path
    process: subprocess.Popen

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def server_log(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_healthy(url: str, process: subprocess.Popen | None, log: Path | None, timeout: float = 120.0) -> None:
    """Poll ``/health`` until it answers; fail with the server's log if it dies or stalls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text() if log else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not healthy after {timeout} s:\n{log.read_text() if log else ''}")


def serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a served process: hashing embedder, its own data dir, no LLM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_DATA_DIR=str(data_dir), RAG_EMBEDDER="hashing", RAG_CORPUS_DIR=str(BUNDLED_FICHES),
               PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="session")
def api_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """``python -m rag serve`` with keys, on a free loopback port."""
    root = tmp_path_factory.mktemp("api")
    keys_file = root / "keys.txt"
    keys_file.write_text(f"# clés de test\n{FILE_KEY}\n", encoding="utf-8")
    port = free_port()
    log = root / "server.log"
    env = serve_env(root / "data", RAG_API_KEYS=",".join(KEYS), RAG_API_KEYS_FILE=str(keys_file))
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    server = ApiProcess(f"http://127.0.0.1:{port}", KEYS[0], root / "data", log, process)
    try:
        wait_healthy(server.url, process, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ThreadedApi:
    """The app on uvicorn in a daemon thread (a real HTTP server on 127.0.0.1)."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadedApi:
        self.thread.start()
        wait_healthy(self.url, None, None, timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="session")
def llm_api(llm_server: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedApi]:
    """The API answering with the ``openai`` backend against the fake LLM server (no
    retries, so a failure shows at once); no keys."""
    from rag.api.app import create_app

    root = tmp_path_factory.mktemp("llm-api")
    settings = load_settings(corpus_dir=BUNDLED_FICHES, data_dir=root / "data", embedder="hashing",
                             backend="openai", llm_base_url=f"{llm_server.url}/v1", llm_model="test-model",
                             max_retries=0, read_timeout=10.0)
    with ThreadedApi(create_app(settings)) as api:
        yield api
