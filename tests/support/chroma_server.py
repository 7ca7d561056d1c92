"""A real Chroma server for tests: ``chroma run --path TMP --host 127.0.0.1 --port P``
from the venv, started and stopped by the test (no mock of any client).

``chroma_server`` is session-scoped (shared by the server-mode contract tests, each of
which uses its own collection); :class:`ChromaServer` can also be used directly by a
fault test that stops and restarts its own server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.net import free_port

CHROMA = Path(sys.executable).parent / "chroma"


class ChromaServer:
    """One ``chroma run`` process over a data folder; ``restart`` keeps folder and port."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = path
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ChromaServer:
        """Launch the server and wait for its heartbeat."""
        log = open(self.path.parent / f"chroma-{self.port}.log", "ab")
        self.process = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chroma server exited with {self.process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma server on port {self.port} not up after {timeout}s")

    def stop(self) -> None:
        """Terminate the process (kill it if it lingers) and wait for the port to close."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def restart(self) -> ChromaServer:
        self.stop()
        return self.start()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A Chroma server for the whole session."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db").start()
    yield server
    server.stop()
