"""The chat with an LLM engine, as found by exploratory QA (AppTest, our loopback fake
OpenAI server): the sidebar's server address and context window, a wrong address typed
there, another engine's own address.
"""

from __future__ import annotations

import re

from streamlit.testing.v1 import AppTest

from rag.config import load_settings
from rag.conversations import LOCAL_USER
from tests.support.fake_llm_server import FakeLLMServer, Window, closed_port_url
from tests.support.ui_fixtures import BREST_QUESTION, ask, card_titles, start, store_of, turns, unescape

TIMEOUT = 120
URL_KEY = "opt_base_url_openai"


def window_caption(at: AppTest) -> str:
    """The sidebar's « Fenêtre de contexte » line, unescaped, spaces in numbers removed."""
    lines = [unescape(c.value) for c in at.sidebar.caption if "Fenêtre de contexte" in unescape(c.value)]
    assert len(lines) == 1, [c.value for c in at.sidebar.caption]
    return re.sub(r"(\d)[\s\u202f\u00a0](\d)", r"\1\2", lines[0])


def test_sidebar_shows_the_advertised_context_window(llm_env: FakeLLMServer) -> None:
    llm_env.window = Window(4096, advertise="vllm")
    caption = window_caption(start())
    assert "4096 tokens" in caption and "/v1/models, max_model_len" in caption, caption


def test_sidebar_window_follows_what_a_refusal_taught_in_the_same_run(llm_env: FakeLLMServer) -> None:
    """A server that announces nothing shows the default; once it refused a prompt as too
    long, the window it named is shown at the end of that very run."""
    llm_env.window = Window(1024, advertise="none", refusal="vllm")
    at = start()
    assert "8192 tokens" in window_caption(at) and "ne l'annonce pas" in window_caption(at)
    at = ask(at, BREST_QUESTION)
    assert turns(at)[-1].answer.error is None
    assert "1024 tokens" in window_caption(at) and "refus" in window_caption(at)


def test_the_server_address_is_chosen_in_the_sidebar(llm_env: FakeLLMServer) -> None:
    """A closed port typed in the sidebar: a French error naming it, the sources stay, the
    turn is stored with its error; the right address again answers."""
    at = start()
    assert at.text_input(key=URL_KEY).value == llm_env.url + "/v1"
    closed = closed_port_url() + "/v1"
    at.text_input(key=URL_KEY).set_value(closed).run()
    assert "serveur injoignable" in window_caption(at)
    at = ask(at, BREST_QUESTION)
    message = unescape(at.error[0].value)
    assert "connexion impossible" in message and closed in message, message
    assert card_titles(at), "the retrieved sources stay on screen"
    assert not llm_env.chat_hits()
    at.text_input(key=URL_KEY).set_value(llm_env.url + "/v1").run()
    at = ask(at, "Quelles initiatives accompagnent les usagers vers le numérique ?")
    failed, answered = turns(at)
    assert answered.answer.error is None and answered.answer.answer.startswith("Bonjour")
    stored = store_of(load_settings().data_dir).get_conversation(at.query_params["c"], LOCAL_USER)
    assert [t.to_answer().error is not None for t in stored.turns] == [True, False]
    assert failed.saved


def test_a_malformed_server_address_is_refused_in_french(llm_env: FakeLLMServer) -> None:
    at = start()
    at.text_input(key=URL_KEY).set_value("127.0.0.1:8000").run()
    assert not at.exception
    assert any("http://" in unescape(e.value) for e in at.sidebar.error), [e.value for e in at.sidebar.error]
    at = ask(at, BREST_QUESTION)  # refused before searching: the same French error, no traceback
    assert "http://" in unescape(at.error[-1].value) and not turns(at)[-1].answer.answer


def test_another_engine_starts_on_its_own_address(llm_env: FakeLLMServer) -> None:
    """RAG_LLM_BASE_URL is the address of RAG_BACKEND's server: switching to Ollama in the
    sidebar starts on Ollama's address, not on the OpenAI server's /v1 (every request
    there was a 404 read as « modèle inconnu »); back to openai, its address is kept."""
    at = start()
    assert "réglage RAG_LLM_BASE_URL" in at.text_input(key=URL_KEY).help
    at.selectbox(key="opt_backend").set_value("ollama").run()
    ollama = at.text_input(key="opt_base_url_ollama")
    assert ollama.value == "http://127.0.0.1:11434"
    assert "défaut du moteur « ollama »" in ollama.help and "celle du moteur « openai »" in ollama.help, ollama.help
    at.selectbox(key="opt_backend").set_value("openai").run()
    assert at.text_input(key=URL_KEY).value == llm_env.url + "/v1"



def test_a_question_too_long_for_the_window_keeps_its_sources_and_is_stored(llm_env: FakeLLMServer) -> None:
    llm_env.window = Window(1024, advertise="vllm")  # 512 cannot hold the instructions, whatever the question
    question = ("Nous voulons repenser le hall d'accueil de la mairie, la signalétique, la confidentialité "
                "des échanges et l'attente des usagers ; ") * 14
    at = ask(start(), question[:1900])
    assert "raccourcissez la question" in unescape(at.error[0].value)
    assert card_titles(at) and turns(at)[-1].saved
