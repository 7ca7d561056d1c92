"""Our OpenAI backend and ``ask`` against a real OpenAI-compatible server: llama-cpp-python
serving Gemma 3 270M with ``--n_ctx 1024`` (fixture ``llama_server``, one per session).

The model is tiny and not instruction-tuned: these tests check the plumbing (streaming,
finish reasons, a context overflow learnt from the server's refusal and retried, the
citation cleanup of whatever it writes), not what it says. Generation is greedy
(temperature 0) and a few dozen tokens at most, so each test takes seconds.
"""

from __future__ import annotations

import logging
import re

import pytest

from rag.answer.backends import create_backend
from rag.answer.backends.base import ContextOverflow
from rag.answer.backends.http import HttpBackend
from rag.answer.citations import verify_citations
from rag.answer.pipeline import ask
from rag.config import load_settings
from rag.services import Services
from rag.types import GenerationRequest
from tests.support.llama import LLAMA_N_CTX

pytestmark = pytest.mark.llm

QUESTION = "Comment la mairie de Brest a-t-elle réaménagé son hall d'accueil ?"
SHORT = [{"role": "system", "content": "Réponds en français."},
         {"role": "user", "content": "Qu'est-ce qu'une mairie ?"}]
"""A prompt the model answers at length (to many others it says nothing: an immediate end of turn)."""


def backend(url: str, **options: object) -> HttpBackend:
    """Our openai backend on the server; no model configured: the server's only one is used."""
    made = create_backend("openai", load_settings(max_retries=1), base_url=url, temperature=0.0, **options)
    assert isinstance(made, HttpBackend)
    return made


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Services:
    """The bundled catalogue, indexed with the hashing embedder."""
    built = Services(load_settings(data_dir=tmp_path_factory.mktemp("llama-index"), embedder="hashing",
                                   max_retries=1, read_timeout=120.0))
    built.ensure_index()
    return built


def test_streams_tokens_and_reports_the_cut_at_max_tokens(llama_server: str,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    pieces = list(backend(llama_server, max_tokens=8).stream(GenerationRequest(question="", passages=[],
                                                                             messages=SHORT)))
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert "backend 'openai': answer cut at max_tokens=8" in caplog.text  # its finish_reason "length"


def test_a_prompt_beyond_its_window_is_refused_and_the_window_learnt(llama_server: str) -> None:
    served = backend(llama_server, max_tokens=8)
    window = served.context_window()
    assert window.tokens == 8192 and "ne l'annonce pas" in window.source  # neither max_model_len nor /props
    long = [{"role": "user", "content": "Accueil du public en mairie. " * 250}]
    with pytest.raises(ContextOverflow) as refused:
        list(served.stream(GenerationRequest(question="", passages=[], messages=long)))
    assert refused.value.window == LLAMA_N_CTX and refused.value.prompt_tokens > LLAMA_N_CTX
    assert served.context_window().tokens == LLAMA_N_CTX and "refus" in served.context_window().source


def test_ask_end_to_end_learns_the_window_and_cleans_the_citations(llama_server: str, services: Services) -> None:
    # 15 passages: far beyond 1024 tokens at first (the server refuses before evaluating: it costs nothing)
    run = ask(QUESTION, services, backend="openai", base_url=llama_server, k=15, max_tokens=32, temperature=0.0)
    shown = "".join(run.stream())
    result = run.result
    assert len(result.sources) >= 10, "the retrieval must give the first prompt enough passages to overflow"
    assert result.error is None and shown.strip() == result.answer and result.answer
    assert any("refusé la requête" in notice for notice in result.notices)  # the first prompt did not fit
    assert run.request is not None and run.request.context_window == LLAMA_N_CTX
    given = {p.n for p in run.given}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", result.answer)} <= given
    assert {s.n for s in result.citations} <= given
    assert verify_citations(result.answer, given).text == result.answer  # already clean: nothing left to fix
