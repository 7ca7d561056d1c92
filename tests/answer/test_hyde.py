"""The optional HyDE-style rewrite before retrieval, against the loopback fake LLM server
through the real ``openai`` backend: what is searched, when it is skipped, failures that
fall back to the question, and ``ask`` searching with the model's passage."""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.answer.hyde import MAX_PASSAGE_CHARS, search_text
from rag.answer.pipeline import ask
from rag.answer.prompting import load_prompts
from rag.config import ROOT
from rag.services import Services
from tests.support.fake_llm_server import FakeLLMServer, Scenario

QUESTION = "un ordinateur avec quelqu'un pour aider aux papiers sur internet"
SAINT_DENIS = "l-accueil-a-saint-denis-sur-un-espace-de-mediation-numerique-en-test"
PASSAGE = "Un espace public numérique propose des postes informatiques et un médiateur numérique."


def _backend(services: Services, server: FakeLLMServer):  # noqa: ANN202 - a Backend
    return services.backend("openai", base_url=server.url + "/v1", model="test-model")


def test_enabled_searches_the_question_then_the_models_passage(hashed: Services, fake_llm: FakeLLMServer):
    fake_llm.queue(Scenario(tokens=["  Un espace public", " numérique propose des postes informatiques\n",
                                    "et un médiateur numérique."]))
    text = search_text(QUESTION, _backend(hashed, fake_llm), hashed.prompts(), True)
    assert text == f"{QUESTION}\n{PASSAGE}"
    (hit,) = fake_llm.chat_hits()
    prompt = hit.body["messages"][-1]["content"]
    assert QUESTION in prompt and "vocabulaire des professionnels" in prompt and "<!--" not in prompt


def test_skipped_when_off_for_extractive_and_without_the_template(hashed: Services, fake_llm: FakeLLMServer,
                                                                 tmp_path: Path):
    backend = _backend(hashed, fake_llm)
    assert search_text(QUESTION, backend, hashed.prompts(), False) == QUESTION
    assert search_text(QUESTION, hashed.backend("extractive"), hashed.prompts(), True) == QUESTION
    folder = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", folder)
    (folder / "hyde.md").unlink()
    prompts = load_prompts(folder)  # optional template: the other prompts still load
    assert prompts.hyde is None and search_text(QUESTION, backend, prompts, True) == QUESTION
    assert fake_llm.chat_hits() == []


def test_a_failing_or_runaway_model_never_blocks_the_search(hashed: Services, fake_llm: FakeLLMServer, caplog):
    backend, prompts = _backend(hashed, fake_llm), hashed.prompts()
    fake_llm.queue(Scenario(status=500))
    assert search_text(QUESTION, backend, prompts, True) == QUESTION
    assert "réécriture de la question" in caplog.text
    fake_llm.queue(Scenario(tokens=["   \n "]))
    assert search_text(QUESTION, backend, prompts, True) == QUESTION
    fake_llm.queue(Scenario(tokens=["mot " * 1000]))
    assert len(search_text(QUESTION, backend, prompts, True)) <= len(QUESTION) + 1 + MAX_PASSAGE_CHARS


def test_ask_retrieves_with_the_rewrite_when_enabled(hashed: Services, fake_llm: FakeLLMServer):
    settings = hashed.settings.model_copy(update={"query_rewrite": True})
    rewriting = Services(settings)
    fake_llm.queue(Scenario(tokens=[PASSAGE]), Scenario(tokens=["Voici [1]."]))
    run = ask(QUESTION, rewriting, backend="openai", base_url=fake_llm.url + "/v1", model="test-model")
    assert run.result.error is None
    rewrite, answer = fake_llm.chat_hits()
    assert QUESTION in rewrite.body["messages"][-1]["content"]
    assert run.sources[0].fiche_id == SAINT_DENIS
    assert run.standalone == QUESTION  # the answer still addresses the user's question
    plain = ask(QUESTION, hashed, backend="openai", base_url=fake_llm.url + "/v1", model="test-model")
    assert plain.sources[0].fiche_id != SAINT_DENIS  # off (the default): the question's words alone
