"""A question longer than the model's window, as found by exploratory QA against
llama-cpp-python with ``--n_ctx 1024``: the server refuses, the prompt cannot be
rebuilt smaller (the question alone does not fit), and the user is told to shorten
the question; no notice claims the request was shortened and resent."""

from __future__ import annotations

from rag.answer.pipeline import ask
from rag.services import Services
from tests.support.fake_llm_server import FakeLLMServer, Window

LONG = ("Nous voulons repenser le hall d'accueil de la mairie, la signalétique, la confidentialité des "
        "échanges et l'attente des usagers ; ") * 14


def test_a_question_too_long_for_the_learnt_window_says_to_shorten_it(hashed: Services,
                                                                       fake_llm: FakeLLMServer) -> None:
    fake_llm.window = Window(1024, advertise="none", refusal="vllm")
    result = ask(LONG[:1900], hashed, backend="openai", base_url=fake_llm.url + "/v1", model="test-model").result
    assert len(fake_llm.chat_hits()) == 1  # refused once; nothing smaller could be sent
    assert not any("renvoyée" in notice for notice in result.notices), result.notices
    assert result.error and "raccourcissez la question" in result.error and "(1024 tokens)" in result.error
    assert result.sources and result.answer == ""  # the sources stay


def test_once_the_window_is_known_a_question_too_long_keeps_its_sources(hashed: Services,
                                                                         fake_llm: FakeLLMServer) -> None:
    """The window announced (or learnt before): nothing is sent, and the answer reports it
    with the sources, as a refusal would (it raised out of ``ask``, sources lost, and
    blamed a RAG_CONTEXT_WINDOW nobody set)."""
    fake_llm.window = Window(1024, advertise="vllm")
    result = ask(LONG[:1900], hashed, backend="openai", base_url=fake_llm.url + "/v1", model="test-model").result
    assert not fake_llm.chat_hits()
    assert result.error and "raccourcissez la question" in result.error and "(1024 tokens)" in result.error
    assert "max_model_len" in result.error and "RAG_CONTEXT_WINDOW" not in result.error, result.error
    assert result.sources and result.answer == ""


def test_a_short_question_in_a_window_too_small_for_the_instructions_blames_the_window(
        hashed: Services, fake_llm: FakeLLMServer) -> None:
    """« Brest ? » in 300 tokens: the instructions and a short answer do not fit whatever
    the question, so the advice is a larger window or model, not a shorter question."""
    result = ask("Brest ?", hashed, backend="openai", base_url=fake_llm.url + "/v1", model="test-model",
                 context_window=300).result
    assert not fake_llm.chat_hits() and result.sources and result.answer == ""
    assert result.error and "raccourcissez" not in result.error, result.error
    assert "(300 tokens ; taille : réglage RAG_CONTEXT_WINDOW)" in result.error and "consignes" in result.error
    assert "augmentez RAG_CONTEXT_WINDOW" in result.error and "plus grande fenêtre" in result.error
