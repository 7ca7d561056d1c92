"""The real OpenAI-compatible server (llama-cpp-python over Gemma 3 270M, see
``tests/servers/llama.py``) started once per session with ``--n_ctx 1024``, for the tests
marked ``llm``. Registered in ``tests/conftest.py``; test modules take ``llama_server``
(its base URL, ending in ``/v1``) by name.

It is installed by ``scripts/setup.sh --test`` (what ``make test`` runs): when it is
missing the tests fail saying how to install it, they are never skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.llama import llama_server_available, start_llama_server

LLAMA_N_CTX = 1024


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's base URL (``http://127.0.0.1:PORT/v1``), for the whole session."""
    reason = llama_server_available()
    if reason is not None:
        pytest.fail(reason)
    with start_llama_server(tmp_path_factory.mktemp("llama"), n_ctx=LLAMA_N_CTX) as (base_url, _process):
        yield base_url
