"""The API with an LLM backend (``openai``, against our fake LLM server on 127.0.0.1):
the engine is listed as a model, ``temperature`` and ``max_tokens`` reach the LLM, and
a failing LLM gives a 502 that still lists the sources (or, mid-stream, an error event
carrying them)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.support.fake_llm_server import Scenario

QUESTION = {"role": "user", "content": "Quelles initiatives ont testé une borne d'accueil mobile ?"}


@pytest.fixture
def client(llm_api, fake_llm) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{llm_api.url}/v1", api_key="unused", max_retries=0, timeout=30)


def test_models_list_the_llm_engine_beside_extractive(client):
    assert [m.id for m in client.models.list().data] == ["fiches-extractive", "fiches-test-model"]


def test_generation_options_reach_the_llm(client, fake_llm):
    fake_llm.queue(Scenario(tokens=["La borne ", "mobile [1]."]))
    reply = client.chat.completions.create(model="fiches-test-model", messages=[QUESTION], temperature=0.9,
                                           max_tokens=123)
    assert reply.choices[0].message.content == "La borne mobile [1]."
    sent = fake_llm.chat_hits()[-1].body
    assert sent["temperature"] == 0.9 and sent["max_tokens"] == 123 and sent["model"] == "test-model"
    assert "[1]" in sent["messages"][-1]["content"]  # the numbered passages, from prompts/
    assert reply.model_extra["sources"][0]["cited"] is True
    # the prompt counted is what the LLM read, far more than the question
    assert reply.usage.prompt_tokens > 100


def test_extractive_engine_does_not_call_the_llm(client, fake_llm):
    reply = client.chat.completions.create(model="fiches-extractive", messages=[QUESTION])
    assert "[1]" in reply.choices[0].message.content and fake_llm.chat_hits() == []


def test_backend_failure_is_502_with_the_sources(llm_api, fake_llm):
    fake_llm.queue(Scenario(status=500, error="GPU en feu"))
    response = httpx.post(f"{llm_api.url}/v1/chat/completions", json={"messages": [QUESTION]}, timeout=30)
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "backend_error" and "moteur de réponse" in body["error"]["message"]
    assert body["sources"] and body["sources"][0]["fiche_id"].startswith("l-accueil-au-sein")
    assert "Traceback" not in response.text


def test_backend_failure_before_streaming_is_502_too(llm_api, fake_llm):
    fake_llm.queue(Scenario(status=500))
    response = httpx.post(f"{llm_api.url}/v1/chat/completions", json={"messages": [QUESTION], "stream": True},
                          timeout=30)
    assert response.status_code == 502 and response.json()["sources"]


def test_backend_cut_mid_stream_ends_with_an_error_event_and_sources(llm_api, fake_llm):
    fake_llm.queue(Scenario(kind="cut", tokens=["Début ", "de réponse ", "[1] ", "coupée"], after=2))
    with httpx.stream("POST", f"{llm_api.url}/v1/chat/completions", timeout=30,
                      json={"messages": [QUESTION], "stream": True}) as response:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["error"]["code"] == "backend_error" and last["sources"]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-2])
    assert text.startswith("Début")


def test_official_client_sees_the_mid_stream_error(client, fake_llm):
    fake_llm.queue(Scenario(kind="cut", tokens=["Début ", "de réponse ", "coupée"], after=1))
    stream = client.chat.completions.create(model="fiches-test-model", messages=[QUESTION], stream=True)
    with pytest.raises(openai.APIError, match="moteur de réponse"):
        for _ in stream:
            pass
