"""The API key never shows: ``python -m rag ask --backend openai -v`` end to end against
our loopback server (debug logs on, success and 401), and the conversation export, the
answer and every log record of an in-process run. The server does receive the key.

The fake server answers a wrong key with a 401 echoing the ``Authorization`` header it
received, as some real servers do: the worst case for a leak through an error message.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from rag.answer.pipeline import ask
from rag.config import ROOT, load_settings
from rag.services import Services
from rag.ui.state import ChatState, Turn
from tests.support.fake_llm_server import FakeLLMServer, Scenario

SECRET = "sk-secret-XYZ"
QUESTION = "Comment la mairie de Brest a-t-elle réaménagé le hall d'accueil ?"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The bundled catalogue indexed once (hashing embedder), no retries."""
    built = Services(load_settings(data_dir=tmp_path_factory.mktemp("secrets-data"), embedder="hashing",
                                   corpus_dir=ROOT / "corpus" / "fiches", max_retries=0))
    built.ensure_index()
    return built


def cli_ask(services: Services, server: FakeLLMServer, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m rag -v ask QUESTION --backend openai`` with the key in RAG_LLM_API_KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_DATA_DIR": str(services.settings.data_dir), "RAG_EMBEDDER": "hashing",
                "RAG_MAX_RETRIES": "0", "RAG_LLM_API_KEY": SECRET})
    args = ["-v", "ask", QUESTION, "--backend", "openai", "--base-url", server.url + "/v1", "--model", "test-model"]
    return subprocess.run([sys.executable, "-m", "rag", *args, *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("json_output", [pytest.param(False, id="cli-key-success-text"),
                                         pytest.param(True, id="cli-key-success-json")])
def test_cli_key_sent_to_the_server_never_printed(services: Services, fake_llm: FakeLLMServer,
                                                  json_output: bool) -> None:
    fake_llm.api_key = SECRET
    fake_llm.queue(Scenario(tokens=["La mairie ", "a réaménagé son hall [1]."]))
    done = cli_ask(services, fake_llm, *(["--json"] if json_output else []))
    assert done.returncode == 0, done.stderr
    assert fake_llm.chat_hits()[-1].headers["Authorization"] == f"Bearer {SECRET}"
    answer = json.loads(done.stdout)["answer"] if json_output else done.stdout
    assert "La mairie a réaménagé son hall [1]." in answer
    assert "DEBUG" in done.stderr  # -v: the debug logs were on, and still no key
    assert SECRET not in done.stdout and SECRET not in done.stderr


def test_cli_key_not_printed_on_401(services: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.api_key = "sk-the-right-one"  # ours is refused and echoed back by the server
    done = cli_ask(services, fake_llm)
    assert done.returncode == 3
    assert "erreur: moteur « openai »" in done.stderr and "RAG_LLM_API_KEY" in done.stderr
    assert "401" in done.stderr and "Traceback" not in done.stderr
    assert SECRET not in done.stdout and SECRET not in done.stderr


@pytest.mark.parametrize("status", [pytest.param(200, id="export-key-success"),
                                    pytest.param(401, id="export-key-401")])
def test_answer_export_and_logs_never_hold_the_key(services: Services, fake_llm: FakeLLMServer, status: int,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    monkeypatch.setenv("RAG_LLM_API_KEY", SECRET)
    fake_llm.api_key = SECRET if status == 200 else "sk-the-right-one"
    run = ask(QUESTION, services, backend="openai", base_url=fake_llm.url + "/v1", model="test-model")
    result = run.result
    assert (result.error is None) == (status == 200) and result.sources
    export = ChatState(turns=[Turn(answer=result)]).markdown()  # the chat's download
    assert fake_llm.chat_hits()[-1].headers["Authorization"] == f"Bearer {SECRET}"
    for text in (export, result.model_dump_json(), caplog.text, repr(run.backend.options),
                 services.settings.model_dump_json()):
        assert SECRET not in text
    assert ("401" in export) == (status == 401)
