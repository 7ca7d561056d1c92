"""The official ``openai`` client against ``python -m rag serve`` (a real subprocess):
answers with verified ``[n]`` and a ``sources`` list, streaming and not, follow-ups
resolved from the message history, filters, models, stored conversations."""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from rag.config import load_settings
from rag.conversations import ConversationStore
from tests.conftest import BUNDLED_FICHES

SAINT_MEEN = "l-accueil-au-sein-de-l-espace-france-services-de-saint-meen-le-grand"
SOURCE_FIELDS = {"n", "fiche_id", "title", "section", "url", "excerpt"}


@pytest.fixture(scope="module")
def client(api_process) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_process.v1, api_key=api_process.key, max_retries=0, timeout=60)


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def check_sources(sources: list[dict], text: str) -> None:
    """Every [n] of the text is a listed source marked cited; every source has its fields."""
    assert sources
    by_n = {s["n"]: s for s in sources}
    assert all(SOURCE_FIELDS <= set(s) for s in sources)
    assert cited_numbers(text) and cited_numbers(text) <= set(by_n)
    assert {n for n, s in by_n.items() if s["cited"]} == cited_numbers(text)


def test_models_lists_the_extractive_engine(client):
    assert [m.id for m in client.models.list().data] == ["fiches-extractive"]


def test_completion_has_citations_sources_and_usage(client):
    reply = client.chat.completions.create(
        model="fiches-extractive", messages=[{"role": "user", "content": "Quelles initiatives ont testé une borne "
                                              "d'accueil mobile ?"}])
    text = reply.choices[0].message.content
    sources = reply.model_extra["sources"]
    check_sources(sources, text)
    assert sources[0]["fiche_id"] == SAINT_MEEN and sources[0]["cited"]
    assert reply.choices[0].finish_reason == "stop" and reply.model == "fiches-extractive"
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > reply.usage.completion_tokens / 10
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_streaming_sends_text_then_sources_in_the_last_chunk(client):
    stream = client.chat.completions.create(
        model="fiches-extractive", stream=True,
        messages=[{"role": "user", "content": "Quelles initiatives ont testé une borne d'accueil mobile ?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 2 and chunks[0].choices[0].delta.role == "assistant"
    assert all("sources" not in (c.model_extra or {}) for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop" and last.usage.completion_tokens > 0
    check_sources(last.model_extra["sources"], text)


def test_include_usage_adds_openais_last_chunk_without_choices(client):
    stream = client.chat.completions.create(
        model="fiches-extractive", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Quelles initiatives ont testé une borne d'accueil mobile ?"}])
    chunks = list(stream)
    usage_only, stop = chunks[-1], chunks[-2]
    assert usage_only.choices == [] and usage_only.usage == stop.usage and usage_only.usage.completion_tokens > 0
    assert stop.choices[0].finish_reason == "stop" and stop.model_extra["sources"]


def test_three_message_history_resolves_et_a_nantes(client):
    first = "Quelles initiatives ont fait de la co-conception avec les usagers ?"
    alone = client.chat.completions.create(model="fiches-extractive",
                                           messages=[{"role": "user", "content": "et à Nantes ?"}])
    reply = client.chat.completions.create(model="fiches-extractive", messages=[
        {"role": "system", "content": "Tu es un assistant."},
        {"role": "user", "content": first},
        {"role": "assistant", "content": "Plusieurs initiatives [1]."},
        {"role": "user", "content": "et à Nantes ?"},
    ])
    sources = reply.model_extra["sources"]
    cited = [s for s in sources if s["cited"]]
    assert cited and all(s["ville"] == "Nantes" for s in sources)
    assert "co-conception-de-la-mairie-de-nantes-sud" == cited[0]["fiche_id"]
    assert "co-conception" in cited[0]["excerpt"].lower()
    # without the history, the same words are answered otherwise
    alone_cited = [(s["fiche_id"], s["section"]) for s in alone.model_extra["sources"] if s["cited"]]
    assert alone_cited[0] != (cited[0]["fiche_id"], cited[0]["section"])


def test_filters_restrict_the_sources(client):
    reply = client.chat.completions.create(
        model="fiches-extractive", messages=[{"role": "user", "content": "Comment améliorer l'accueil ?"}],
        extra_body={"filters": {"ville": "Brest"}})
    sources = reply.model_extra["sources"]
    assert sources and {s["fiche_id"] for s in sources} == {"accueil-en-mairie-de-brest"}


def test_not_covered_question_abstains_with_closest_initiatives(client):
    reply = client.chat.completions.create(
        model="fiches-extractive", messages=[{"role": "user", "content": "Quel est le prix du carburant à Lille ?"}])
    assert reply.model_extra["abstained"] is True
    assert "catalogue ne couvre pas" in reply.choices[0].message.content
    assert not any(s["cited"] for s in reply.model_extra["sources"])


def test_sixteen_concurrent_streams_all_succeed(client):
    questions = ["borne d'accueil mobile", "co-conception avec les usagers", "accueil en préfecture",
                 "médiation numérique"] * 4

    def run(question: str) -> tuple[str, list[dict]]:
        chunks = list(client.chat.completions.create(model="fiches-extractive", stream=True,
                                                     messages=[{"role": "user", "content": question}]))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].model_extra["sources"]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, questions))
    assert len(results) == 16
    for text, sources in results:
        check_sources(sources, text)


def test_conversation_header_stores_the_exchange(api_process):
    headers = {**api_process.headers(), "X-Conversation-Id": "new"}
    body = {"messages": [{"role": "user", "content": "Quelles initiatives ont fait de la co-conception ?"}]}
    first = httpx.post(f"{api_process.v1}/chat/completions", json=body, headers=headers, timeout=60)
    conversation_id = first.headers["X-Conversation-Id"]
    # the client sends only the follow-up: the stored history resolves it
    follow = {"stream": True, "messages": [{"role": "user", "content": "et à Nantes ?"}]}
    with httpx.stream("POST", f"{api_process.v1}/chat/completions", json=follow, timeout=60,
                      headers={**headers, "X-Conversation-Id": conversation_id}) as response:
        assert response.status_code == 200 and response.headers["X-Conversation-Id"] == conversation_id
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    store = ConversationStore.from_settings(load_settings(data_dir=api_process.data_dir, corpus_dir=BUNDLED_FICHES))
    try:
        stored = store.get_conversation(conversation_id, _key_user(api_process.key))
    finally:
        store.close()
    assert [t.question for t in stored.turns] == [body["messages"][0]["content"], "et à Nantes ?"]
    assert "co-conception" in stored.turns[1].standalone_question
    assert list(stored.turns[1].filters.values()) == ["Nantes"]
    assert stored.turns[1].timings.first_token_ms is not None
    # another key does not see it
    other = httpx.post(f"{api_process.v1}/chat/completions", json=body, timeout=60,
                       headers={"Authorization": "Bearer sk-test-fiches-key-two", "X-Conversation-Id": conversation_id})
    assert other.status_code == 404 and other.json()["error"]["code"] == "conversation_not_found"


def _key_user(key: str) -> str:
    return "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:32]


LONG_QUESTION = "Quelles initiatives ont testé une borne d'accueil mobile ? " + "Précisez le contexte. " * 150


def test_a_shortened_question_is_said_in_notices_whole_or_streamed(client):
    """A question over RAG_MAX_QUESTION_CHARS (2,000) but under the API's 20,000 is cut:
    the client is told so, as the chat page and the CLI tell it."""
    reply = client.chat.completions.create(model="fiches-extractive",
                                           messages=[{"role": "user", "content": LONG_QUESTION}])
    assert any("Question trop longue" in notice for notice in reply.model_extra["notices"])
    chunks = list(client.chat.completions.create(model="fiches-extractive", stream=True,
                                                 messages=[{"role": "user", "content": LONG_QUESTION}]))
    assert any("Question trop longue" in notice for notice in chunks[-1].model_extra["notices"])
    short = client.chat.completions.create(model="fiches-extractive",
                                           messages=[{"role": "user", "content": "borne d'accueil mobile"}])
    assert short.model_extra["notices"] == []


def test_models_retrieve_one_model(client):
    assert client.models.retrieve("fiches-extractive").id == "fiches-extractive"
    with pytest.raises(openai.NotFoundError) as raised:
        client.models.retrieve("gpt-4o")
    assert "modèle inconnu « gpt-4o »" in raised.value.message and "fiches-extractive" in raised.value.message


def test_stream_null_means_not_streamed(api_process):
    """OpenAI's ``stream`` is nullable; some clients send ``null`` for « not set »."""
    reply = httpx.post(f"{api_process.v1}/chat/completions", headers=api_process.headers(), timeout=60,
                       json={"stream": None, "messages": [{"role": "user", "content": "borne d'accueil mobile"}]})
    assert reply.status_code == 200, reply.text
    assert reply.json()["object"] == "chat.completion"
