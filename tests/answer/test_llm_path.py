"""The LLM path end to end against our loopback server playing real servers: a served
context window (advertised like vLLM / llama.cpp / Ollama, or only learnt from a 400
refusal), per-sentence support of the citations, and ``ask --json``. The bundled
catalogue is indexed once with the hashing embedder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from rag.answer.pipeline import ask
from rag.answer.support import describe, sentences, unsupported
from rag.config import ROOT
from rag.services import Services
from rag.tokens import count_tokens
from rag.types import Chunk, Passage
from tests.support.fake_llm_server import FakeLLMServer, Scenario, Window

QUESTION = "Comment la mairie de Brest a-t-elle réaménagé son hall d'accueil ?"


def openai(services: Services, server: FakeLLMServer, **options: object):  # noqa: ANN201 - an AnswerRun
    return ask(QUESTION, services, backend="openai", base_url=server.url + "/v1", model="test-model", **options)


def prompt_tokens(body: dict) -> int:
    return sum(count_tokens(m["content"]) + 4 for m in body["messages"])


# ---------------------------------------------------------------- the served context window

@pytest.mark.parametrize("advertise", ["vllm", "llamacpp"])
def test_ask_fits_an_advertised_1024_token_window(hashed: Services, fake_llm: FakeLLMServer, advertise: str) -> None:
    fake_llm.window = Window(1024, advertise=advertise)
    run = openai(hashed, fake_llm, context_window=None)
    result = run.result
    assert result.error is None and result.answer == "Bonjour, voici la réponse [1]."
    (hit,) = fake_llm.chat_hits()  # no refusal: the first request fitted
    assert prompt_tokens(hit.body) + hit.body["max_tokens"] <= 1024
    assert hit.body["max_tokens"] < hashed.settings.max_tokens
    assert any("Réponse limitée à" in n and "(1024 tokens)" in n for n in result.notices)
    assert len(run.given) < len(result.sources)  # passages dropped before max_tokens was capped


def test_a_silent_server_teaches_its_window_by_refusing_and_the_prompt_is_retried_once(
        hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(1024, advertise="none", refusal="llama-cpp-python")
    run = openai(hashed, fake_llm, max_tokens=64, k=10)
    result = run.result
    assert result.error is None and result.answer == "Bonjour, voici la réponse [1]."
    refused, explained, accepted = fake_llm.chat_hits()  # an empty stream, then the same unstreamed: a 400
    assert (refused.body["stream"], explained.body["stream"], explained.body["max_tokens"]) == (True, False, 1)
    assert prompt_tokens(refused.body) >= 1024 > prompt_tokens(accepted.body)
    assert any("refusé la requête" in n for n in result.notices)
    backend = hashed.backend("openai", base_url=fake_llm.url + "/v1", model="test-model", max_tokens=64)
    assert backend.context_window().tokens == 1024 and "refus" in backend.context_window().source
    fake_llm.hits.clear()
    assert openai(hashed, fake_llm, max_tokens=64, k=10).result.error is None
    assert len(fake_llm.chat_hits()) == 1  # learnt once per backend: the next question fits at once


def test_a_window_learnt_from_a_refusal_survives_a_temperature_change(hashed: Services,
                                                                      fake_llm: FakeLLMServer) -> None:
    """The window belongs to the engine, server and model, not to one option set: moving
    the temperature slider made a new backend that forgot it, and the next question was
    refused again."""
    fake_llm.window = Window(1024, advertise="none", refusal="vllm")
    assert openai(hashed, fake_llm, temperature=0.2).result.error is None
    assert len(fake_llm.chat_hits()) == 2  # refused, then retried within the window learnt
    fake_llm.hits.clear()
    assert openai(hashed, fake_llm, temperature=0.9).result.error is None
    (hit,) = fake_llm.chat_hits()  # fits at once
    assert hit.body["temperature"] == 0.9 and prompt_tokens(hit.body) + hit.body["max_tokens"] <= 1024
    shown = hashed.backend("openai", base_url=fake_llm.url + "/v1", model="test-model", temperature=0.5)
    assert shown.context_window().tokens == 1024 and "refus" in shown.context_window().source  # the sidebar's line
    assert fake_llm.hits == [hit]  # the window was not asked again


def test_a_server_counting_more_tokens_than_tiktoken_is_retried_with_more_margin(
        hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(1024, advertise="vllm", scale=1.5)
    result = openai(hashed, fake_llm).result
    assert result.error is None
    refused, accepted = fake_llm.chat_hits()
    assert 1.5 * prompt_tokens(accepted.body) + accepted.body["max_tokens"] <= 1024


def test_a_window_too_small_even_for_the_instructions_is_a_readable_error_and_the_sources_stay(
        hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(1024, advertise="vllm", scale=4.0)  # the retry's margin cannot hold the rules
    result = openai(hashed, fake_llm).result
    assert len(fake_llm.chat_hits()) == 1 and result.sources and result.answer == ""
    assert "fenêtre de contexte du modèle (1024 tokens" in result.error and "consignes" in result.error
    assert "raccourcissez" not in result.error and "RAG_CONTEXT_WINDOW" in result.error, result.error


def test_ollama_gets_num_ctx_from_api_show_and_the_prompt_fits_it(hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(2048, advertise="ollama")
    result = ask(QUESTION, hashed, backend="ollama", base_url=fake_llm.url, model="test-model").result
    assert result.error is None
    (hit,) = fake_llm.chat_hits()
    assert hit.body["options"]["num_ctx"] == 2048
    assert prompt_tokens(hit.body) + hit.body["options"]["num_predict"] <= 2048


def test_the_setting_overrides_what_the_server_advertises(hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(2048, advertise="ollama")
    assert ask(QUESTION, hashed, backend="ollama", base_url=fake_llm.url, model="test-model",
               context_window=6000).result.error is None
    assert fake_llm.chat_hits()[0].body["options"]["num_ctx"] == 6000
    assert not [hit for hit in fake_llm.hits if hit.path == "/api/show"]


# ---------------------------------------------------------------- per-sentence support

def test_right_citations_are_supported(hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue(Scenario(kind="quote", shift=0))
    result = openai(hashed, fake_llm).result
    assert len(result.citations) >= 3 and result.unsupported == []


def test_deliberately_wrong_citations_are_flagged_per_sentence(hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue(Scenario(kind="quote", shift=1))
    run = openai(hashed, fake_llm)
    result = run.result
    flagged = {(item.sentence, item.n) for item in result.unsupported}
    cited = [(s, n) for s in sentences(result.answer) for n in map(int, re.findall(r"\[(\d+)\]", s))]
    assert len(cited) >= 3 and len(flagged) >= len(cited) - 1  # the fake quotes passage n and cites n + 1
    assert all(f"non étayé par [{n}]" in describe(item) for item in result.unsupported for n in [item.n])


def test_support_by_terms_and_by_meaning() -> None:
    passage = Passage(n=1, chunk=Chunk(id="a", fiche_id="a", title="Accueil en mairie", section="Réalisations",
                                       text="Des macarons numérotés remplacent les noms pour préserver l'anonymat."))
    text = ("Des macarons numérotés préservent l'anonymat des usagers [1]. Le parking est gratuit le dimanche [1].\n"
            "Oui [1].")
    assert [(u.sentence, u.n) for u in unsupported(text, [passage])] == [
        ("Le parking est gratuit le dimanche [1].", 1)]
    same_meaning = lambda a, b: [1.0 for _ in a]  # noqa: E731 - an embedder that finds every pair close
    assert unsupported(text, [passage], same_meaning) == []


# ---------------------------------------------------------------- ask --json

def test_cli_ask_json_lists_unsupported_sentences(hashed: Services, fake_llm: FakeLLMServer) -> None:
    fake_llm.queue(Scenario(kind="quote", shift=1))
    env = {**os.environ, "RAG_DATA_DIR": str(hashed.settings.data_dir), "RAG_EMBEDDER": "hashing",
           "RAG_MAX_RETRIES": "0"}
    done = subprocess.run([sys.executable, "-m", "rag", "ask", QUESTION, "--json", "--backend", "openai",
                           "--base-url", fake_llm.url + "/v1", "--model", "test-model"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["unsupported"] and set(payload["unsupported"][0]) == {"sentence", "n"}
    assert all(item["sentence"] in payload["answer"] for item in payload["unsupported"])
    assert payload["notices"] == []  # the window was not short: nothing dropped, nothing capped


def test_extractive_answers_are_never_flagged(hashed: Services) -> None:
    for question in [QUESTION, "Quelles initiatives accueillent des jeunes ?", "accueil sans rendez-vous"]:
        result = ask(question, hashed).result
        assert result.unsupported == [] and (result.citations or result.abstained)
