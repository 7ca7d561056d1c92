"""Backends: one contract shared by all (extractive, openai, ollama), the HTTP fault cases
against a real loopback server of ours (``tests/support/fake_llm_server.py``), the extractive
composition rules, and the registry. No mocks: real sockets, real subclasses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

import httpx
import pytest

from rag.answer.backends import REGISTRY, SETTING_FOR_OPTION, Backend, create_backend
from rag.answer.backends.base import ContextOverflow, ContextWindow
from rag.answer.backends.extractive import LIST_QUESTION, METADATA_QUESTION
from rag.answer.backends.http import HttpBackend
from rag.answer.backends.http_errors import retry_after_seconds, status_rule
from rag.answer.backends.http_options import HttpOptions
from rag.answer.backends.window import UNREACHABLE_SECONDS, ServedWindow
from rag.config import Settings, load_settings
from rag.errors import (
    BackendAuthError,
    BackendError,
    BackendModelNotFound,
    BackendProtocolError,
    BackendUnavailable,
    ConfigError,
)
from rag.text import fold
from rag.tokens import count_tokens
from rag.types import Chunk, GenerationRequest, Passage
from tests.support.fake_llm_server import FakeLLMServer, Scenario, Window, closed_port_url
from tests.support.fakes import FakeBackend

KEY_ENV = "RAG_TEST_LLM_KEY"
SECRET = "sk-test-SECRET-4242"


def passage(n: int, fiche_id: str, title: str, section: str, text: str) -> Passage:
    return Passage(n=n, chunk=Chunk(id=f"{fiche_id}::{n}", fiche_id=fiche_id, title=title,
                                    section=section, text=text))


BREST, LYON = "Accueil en Mairie de Brest", "Médiation numérique à Lyon"
PASSAGES = [
    passage(1, "brest", BREST, "Description", "Lancement en 2017 d'un projet d'amélioration de l'accueil "
            "des usagers dans le hall de l'hôtel de ville. Les agents ont été impliqués dans la démarche."),
    passage(2, "lyon", LYON, "Réalisations", "- Des conseillers numériques accompagnent les usagers dans "
            "leurs démarches en ligne.\n- bilan\n- Des ateliers d'initiation au numérique pour les seniors."),
    passage(3, "brest", BREST, "Réalisations", "Réagencement des espaces d'accueil et des guichets. "
            "Nouveaux mobiliers conçus avec les agents."),
]
ACTS = ("oriente vers les permanences", "forme aux démarches en ligne", "reçoit sans rendez-vous",
        "prête des tablettes à", "aide à remplir les dossiers avec")
MESSAGES = [{"role": "system", "content": "Réponds en citant [n]."}, {"role": "user", "content": "Question ?"}]
REQUEST = GenerationRequest(question="Comment accompagner les usagers vers le numérique ?",
                            passages=PASSAGES, messages=MESSAGES)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with short timeouts and an API key in a test-only env var."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    return load_settings(llm_api_key_env=KEY_ENV, connect_timeout=1.0, read_timeout=1.0, max_retries=2)


def citations(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\[(\d+)\]", text)]


def drain(backend: Backend, request: GenerationRequest = REQUEST) -> tuple[list[str], BackendError]:
    """The pieces yielded before the stream failed, and the error (the test expects one)."""
    pieces: list[str] = []
    with pytest.raises(BackendError) as info:
        for piece in backend.stream(request):
            pieces.append(piece)
    return pieces, info.value


def check_error(error: BackendError, cls: type[BackendError], name: str, *fragments: str) -> None:
    """Exact class, names the backend, says what to check, never shows the key."""
    assert type(error) is cls, repr(error)
    message = str(error)
    assert message.startswith(f"moteur « {name} » : ")
    assert "\n" not in message and SECRET not in message
    for fragment in fragments:
        assert fragment in message


class BackendContract:
    """What every backend does, whatever its kind. Subclasses provide ``backend``."""

    name: ClassVar[str]

    def test_registered_under_its_name(self, backend: Backend) -> None:
        assert REGISTRY[self.name] is type(backend) and backend.name == self.name

    def test_stream_yields_text_pieces(self, backend: Backend) -> None:
        pieces = list(backend.stream(REQUEST))
        assert len(pieces) > 1 and all(isinstance(p, str) and p for p in pieces)

    def test_complete_is_the_whole_stream(self, backend: Backend) -> None:
        assert backend.complete(REQUEST) == "".join(backend.stream(REQUEST)) != ""

    def test_one_backend_serves_threads(self, backend: Backend) -> None:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: "".join(backend.stream(REQUEST)), range(8)))
        assert len(set(answers)) == 1 and answers[0]

    def test_options_never_show_the_key(self, backend: Backend) -> None:
        assert SECRET not in repr(backend.options) and SECRET not in str(backend.options)

    def test_close_is_idempotent(self, backend: Backend) -> None:
        backend.close()
        backend.close()


class HttpContract(BackendContract):
    """The fault cases every HTTP backend maps the same way."""

    def url(self, server: FakeLLMServer) -> str:
        raise NotImplementedError

    def check_generation_options(self, body: dict, settings: Settings) -> None:
        raise NotImplementedError

    def make(self, settings: Settings, url: str, **overrides: object) -> Backend:
        options = {"model": "test-model", "retry_backoff": 0.01, **overrides}
        return create_backend(self.name, settings, base_url=url, **options)

    @pytest.fixture
    def backend(self, settings: Settings, fake_llm: FakeLLMServer) -> Iterator[Backend]:
        backend = self.make(settings, self.url(fake_llm))
        yield backend
        backend.close()

    def test_streams_the_server_tokens_in_order(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(tokens=["Le", " catalogue", " cite [2]."]))
        assert list(backend.stream(REQUEST)) == ["Le", " catalogue", " cite [2]."]

    def test_sends_the_prompt_model_and_options(self, backend: Backend, fake_llm: FakeLLMServer,
                                                settings: Settings) -> None:
        list(backend.stream(REQUEST))
        (hit,) = fake_llm.chat_hits()
        assert hit.body["messages"] == MESSAGES and hit.body["model"] == "test-model"
        assert hit.body["stream"] is True
        self.check_generation_options(hit.body, settings)

    def test_sends_the_key_as_bearer(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.api_key = SECRET
        assert "".join(backend.stream(REQUEST))
        assert fake_llm.chat_hits()[0].headers["Authorization"] == f"Bearer {SECRET}"

    def test_no_key_no_authorization_header(self, settings: Settings, fake_llm: FakeLLMServer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(KEY_ENV)
        list(self.make(settings, self.url(fake_llm)).stream(REQUEST))
        assert "authorization" not in {name.lower() for name in fake_llm.chat_hits()[0].headers}

    def test_401_is_an_auth_error_naming_the_env_var(self, backend: Backend, fake_llm: FakeLLMServer,
                                                     caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        fake_llm.api_key = "the-right-key"  # the server echoes the wrong key it received
        _, error = drain(backend)
        check_error(error, BackendAuthError, self.name, KEY_ENV, "401")
        assert SECRET not in caplog.text and len(fake_llm.chat_hits()) == 1

    def test_404_unknown_model(self, settings: Settings, fake_llm: FakeLLMServer) -> None:
        _, error = drain(self.make(settings, self.url(fake_llm), model="mistral-nope"))
        check_error(error, BackendModelNotFound, self.name, "« mistral-nope »", "RAG_LLM_MODEL", "--model")
        assert len(fake_llm.chat_hits()) == 1

    def test_429_waits_retry_after_then_succeeds(self, backend: Backend, fake_llm: FakeLLMServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        fake_llm.queue(Scenario(status=429, retry_after="1"), Scenario(tokens=["ok", "!"]))
        assert "".join(backend.stream(REQUEST)) == "ok!"
        first, second = fake_llm.chat_hits()
        assert second.time - first.time >= 1.0
        assert "retry 1/2" in caplog.text and SECRET not in caplog.text

    def test_retry_after_beyond_the_cap_fails_at_once(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(status=429, retry_after="120"))
        _, error = drain(backend)
        check_error(error, BackendUnavailable, self.name, "HTTP 429", "après 1 tentative ;", "réessayez dans 120 s")
        assert len(fake_llm.chat_hits()) == 1

    def test_500_then_success_is_retried(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(status=500), Scenario(status=502), Scenario(tokens=["enfin"]))
        assert list(backend.stream(REQUEST)) == ["enfin"]
        assert len(fake_llm.chat_hits()) == 3

    def test_backoff_doubles(self, settings: Settings, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(status=500), Scenario(status=500), Scenario(tokens=["ok"]))
        assert list(self.make(settings, self.url(fake_llm), retry_backoff=0.2).stream(REQUEST)) == ["ok"]
        times = [hit.time for hit in fake_llm.chat_hits()]
        assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4

    def test_503_always_gives_up_after_max_retries(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(*[Scenario(status=503, error="overloaded")] * 5)
        _, error = drain(backend)
        check_error(error, BackendUnavailable, self.name, "503", "après 3 tentatives", "overloaded")
        assert len(fake_llm.chat_hits()) == 3

    def test_400_is_not_retried(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(status=400, error=f"prompt too long, key {SECRET}"))
        _, error = drain(backend)
        check_error(error, BackendError, self.name, "requête refusée", "HTTP 400", "prompt too long", "***")
        assert len(fake_llm.chat_hits()) == 1

    def test_read_timeout_is_unavailable_and_not_retried(self, backend: Backend,
                                                         fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(delay=3.0))
        _, error = drain(backend)
        check_error(error, BackendUnavailable, self.name, "n'a pas répondu en 1 s", "RAG_READ_TIMEOUT")
        assert len(fake_llm.chat_hits()) == 1

    def test_stall_after_tokens_keeps_them_and_fails(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="stall", after=2, delay=3.0))
        pieces, error = drain(backend)
        assert pieces == Scenario().tokens[:2]
        check_error(error, BackendUnavailable, self.name, "bloqué en pleine réponse")
        assert len(fake_llm.chat_hits()) == 1

    def test_connection_refused_names_the_url(self, settings: Settings) -> None:
        url = closed_port_url()
        _, error = drain(self.make(settings, url))
        check_error(error, BackendUnavailable, self.name, url.removeprefix("http://"), "RAG_LLM_BASE_URL")

    def test_cut_before_any_token_is_retried(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="cut", after=0), Scenario(tokens=["repris"]))
        assert list(backend.stream(REQUEST)) == ["repris"]
        assert len(fake_llm.chat_hits()) == 2

    def test_cut_after_tokens_is_not_retried(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="cut", after=2))
        pieces, error = drain(backend)
        assert pieces == Scenario().tokens[:2]
        check_error(error, BackendUnavailable, self.name, "perdue en pleine réponse", "incomplète")
        assert len(fake_llm.chat_hits()) == 1

    def test_malformed_line_is_a_protocol_error(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="malformed", after=1))
        pieces, error = drain(backend)
        assert pieces == Scenario().tokens[:1]
        check_error(error, BackendProtocolError, self.name, "illisible", "not json")

    def test_error_mid_stream_is_reported(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="error_midstream", after=1, error="CUDA out of memory"))
        pieces, error = drain(backend)
        assert pieces == Scenario().tokens[:1]
        check_error(error, BackendError, self.name, "CUDA out of memory")
        assert len(fake_llm.chat_hits()) == 1

    def test_stream_ending_without_done_is_an_error(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="no_done", tokens=["a", "b"]))
        pieces, error = drain(backend)
        assert pieces == ["a", "b"]
        check_error(error, BackendProtocolError, self.name, "arrêté avant la fin", "incomplète")

    def test_complete_is_one_unstreamed_request_and_retries(self, backend: Backend,
                                                            fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(status=500), Scenario(tokens=["Question", " reformulée"]))
        assert backend.complete(REQUEST) == "Question reformulée"
        assert [hit.body["stream"] for hit in fake_llm.chat_hits()] == [False, False]

    def test_unset_model_uses_the_servers_only_model(self, settings: Settings, fake_llm: FakeLLMServer) -> None:
        fake_llm.models = ["seul-modele"]
        assert list(self.make(settings, self.url(fake_llm), model=None).stream(REQUEST))
        assert fake_llm.chat_hits()[0].body["model"] == "seul-modele"

    def test_unset_model_with_several_on_server_lists_them(self, settings: Settings,
                                                           fake_llm: FakeLLMServer) -> None:
        fake_llm.models = ["a-7b", "b-13b"]
        _, error = drain(self.make(settings, self.url(fake_llm), model=None))
        check_error(error, BackendModelNotFound, self.name, "a-7b, b-13b", "RAG_LLM_MODEL")
        assert fake_llm.chat_hits() == []

    def test_cut_at_max_tokens_is_logged(self, backend: Backend, fake_llm: FakeLLMServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
        fake_llm.queue(Scenario(tokens=["Une réponse", " coupée"], finish="length"))
        request = REQUEST.model_copy(update={"max_tokens": 42})
        assert "".join(backend.stream(request)) == "Une réponse coupée"
        assert f"backend '{self.name}': answer cut at max_tokens=42" in caplog.text

    def test_context_window_setting_wins_and_nothing_is_asked(self, settings: Settings,
                                                               fake_llm: FakeLLMServer) -> None:
        fake_llm.window = Window(1024, advertise=self.advertises)
        backend = self.make(settings, self.url(fake_llm), context_window=3000)
        assert backend.context_window().tokens == 3000 and "RAG_CONTEXT_WINDOW" in backend.context_window().source
        assert fake_llm.hits == []

    def test_advertised_context_window_is_asked_once(self, backend: HttpBackend, fake_llm: FakeLLMServer) -> None:
        fake_llm.window = Window(1024, advertise=self.advertises)
        window = backend.context_window()
        assert window.tokens == 1024 and "annoncée par le serveur" in window.source
        asked = len(fake_llm.hits)
        assert backend.context_window() == window and len(fake_llm.hits) == asked  # cached per instance

    def test_unreachable_server_gives_the_default(self, settings: Settings) -> None:
        backend = self.make(settings, closed_port_url())
        assert backend.context_window().tokens == 8192 and "injoignable" in backend.context_window().source
        assert backend.window.known is None  # not learnt: the server may come up (asked again, see below)


def test_an_unreachable_server_is_asked_again_only_after_a_pause() -> None:
    """A rerun of the chat within UNREACHABLE_SECONDS does not wait on the server again;
    after it, the server (maybe started meanwhile) is asked again."""
    now, asked = [100.0], []

    def discover() -> ContextWindow | None:
        asked.append(now[0])
        if len(asked) == 1:
            raise httpx.ConnectError("refused")
        return ContextWindow(2048, "annoncée par le serveur")

    window = ServedWindow("openai", None, discover, clock=lambda: now[0])
    assert "injoignable" in window.get().source and window.get().tokens == 8192 and asked == [100.0]
    now[0] += UNREACHABLE_SECONDS - 1
    assert "injoignable" in window.get().source and asked == [100.0]
    now[0] += 2
    assert window.get() == ContextWindow(2048, "annoncée par le serveur") and len(asked) == 2


@pytest.mark.parametrize(("status", "error", "retried"), [
    (401, BackendAuthError, False), (403, BackendAuthError, False), (404, BackendModelNotFound, False),
    (408, BackendUnavailable, True), (429, BackendUnavailable, True), (500, BackendUnavailable, True),
    (503, BackendUnavailable, True), (599, BackendUnavailable, True), (400, BackendError, False),
    (418, BackendError, False),
])
def test_one_table_maps_a_status_to_its_error_and_retry(status: int, error: type[BackendError],
                                                        retried: bool) -> None:
    rule = status_rule(status)
    assert (rule.error, rule.retry) == (error, retried)


def test_http_options_take_their_defaults_from_the_settings() -> None:
    options, settings = HttpOptions(base_url="http://127.0.0.1:1"), Settings()
    for option, setting in SETTING_FOR_OPTION.items():
        if option != "base_url":
            assert getattr(options, option) == getattr(settings, setting), option


def test_retry_after_accepts_seconds_and_http_dates() -> None:

    assert retry_after_seconds("2.5") == 2.5 and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0 and retry_after_seconds(None) is None


class TestOpenAI(HttpContract):
    name = "openai"
    advertises = "vllm"

    def url(self, server: FakeLLMServer) -> str:
        return f"{server.url}/v1"

    def check_generation_options(self, body: dict, settings: Settings) -> None:
        assert body["temperature"] == settings.temperature and body["max_tokens"] == settings.max_tokens

    def test_bare_host_gets_v1(self, settings: Settings, fake_llm: FakeLLMServer) -> None:
        list(self.make(settings, fake_llm.url + "/").stream(REQUEST))
        assert fake_llm.chat_hits()[0].path == "/v1/chat/completions"

    def test_sse_comments_split_lines_and_crlf_are_decoded(self, backend: Backend, fake_llm: FakeLLMServer) -> None:
        event = '{"choices": [{"index": 0, "delta": {"content": "%s"}, "finish_reason": %s}]}'
        fake_llm.queue(Scenario(kind="raw", tokens=[
            ": ping\r\n\r\n", "data: " + event % ("Bon", "null") + "\r\n\r", "\n",
            "event: message\ndata: {\"choices\": [{\"index\": 0,\n", "data: \"delta\": {\"content\": \"jour\"}}]}\n\n",
            "retry: 100\n\n", "data: " + event % ("", '"stop"') + "\n\n", "data:[DONE]\n\n"]))
        assert list(backend.stream(REQUEST)) == ["Bon", "jour"]

    def test_a_body_that_is_no_event_stream_is_a_protocol_error(self, backend: Backend,
                                                                 fake_llm: FakeLLMServer) -> None:
        fake_llm.queue(Scenario(kind="raw", tokens=["{}"]))
        fake_llm.sse_type = "application/json"
        _, error = drain(backend)
        check_error(error, BackendProtocolError, self.name, "pas de flux d'événements", "application/json")

    def test_llamacpp_props_announce_the_window(self, backend: HttpBackend, fake_llm: FakeLLMServer) -> None:
        fake_llm.window = Window(2048, advertise="llamacpp")
        assert backend.context_window().tokens == 2048 and "/props" in backend.context_window().source

    def test_silent_server_gives_the_default(self, backend: HttpBackend, fake_llm: FakeLLMServer) -> None:
        fake_llm.window = Window(1024, advertise="none")
        assert backend.context_window().tokens == 8192 and "ne l'annonce pas" in backend.context_window().source

    @pytest.mark.parametrize("refusal", ["vllm", "llama-cpp-python"])
    def test_a_refusal_teaches_the_window(self, settings: Settings, fake_llm: FakeLLMServer, refusal: str) -> None:
        backend = self.make(settings, self.url(fake_llm), read_timeout=10.0)  # the server counts tokens: not 1 s
        fake_llm.window = Window(300, advertise="none", refusal=refusal)
        long = REQUEST.model_copy(update={"messages": [{"role": "user", "content": "mot " * 400}], "max_tokens": 50})
        _, error = drain(backend, long)
        check_error(error, ContextOverflow, self.name, "fenêtre de contexte du modèle (300 tokens)", "RAG_TOP_K")
        assert (error.window, error.prompt_tokens) == (300, count_tokens("mot " * 400) + 4)  # as the server counts
        # a refusal is not retried by the backend (the pipeline rebuilds the prompt); llama-cpp-python's
        # empty event stream is explained by the same request unstreamed, for one token
        assert [(h.body["stream"], h.body["max_tokens"]) for h in fake_llm.chat_hits()] == (
            [(True, 50)] if refusal == "vllm" else [(True, 50), (False, 1)])
        window = backend.context_window()
        assert window.tokens == 300 and "refus" in window.source


class TestOllama(HttpContract):
    name = "ollama"
    advertises = "ollama"

    def url(self, server: FakeLLMServer) -> str:
        return server.url

    def check_generation_options(self, body: dict, settings: Settings) -> None:
        assert body["options"] == {"temperature": settings.temperature, "num_ctx": 8192,
                                   "num_predict": settings.max_tokens}

    def test_num_ctx_is_always_the_window_the_prompt_was_built_for(self, backend: Backend,
                                                                    fake_llm: FakeLLMServer) -> None:
        fake_llm.window = Window(2048, advertise="ollama")
        list(backend.stream(REQUEST))
        list(backend.stream(REQUEST.model_copy(update={"context_window": 1500, "max_tokens": 100})))
        first, second = (hit.body["options"] for hit in fake_llm.chat_hits())
        assert (first["num_ctx"], second["num_ctx"], second["num_predict"]) == (2048, 1500, 100)

    def test_modelfile_num_ctx_wins_and_a_long_context_length_is_capped(self, backend: HttpBackend,
                                                                        fake_llm: FakeLLMServer) -> None:
        assert backend.context_window().tokens == 8192 and "131072" in backend.context_window().source
        fake_llm.num_ctx_param = 4096
        fresh = create_backend("ollama", load_settings(), base_url=fake_llm.url, model="test-model")
        assert fresh.context_window().tokens == 4096 and "num_ctx" in fresh.context_window().source


class TestExtractive(BackendContract):
    name = "extractive"

    @pytest.fixture
    def backend(self, settings: Settings) -> Backend:
        return create_backend("extractive", settings)

    def answer(self, backend: Backend, question: str, passages: list[Passage] = PASSAGES) -> str:
        return "".join(backend.stream(GenerationRequest(question=question, passages=passages)))

    def test_offline_without_llm(self, backend: Backend) -> None:
        assert backend.uses_llm is False and backend.needs_network is False

    def test_quotes_relevant_sentences_grouped_by_initiative(self, backend: Backend) -> None:
        text = self.answer(backend, REQUEST.question)
        assert f"**{LYON}**\n- Des conseillers numériques accompagnent" in text
        assert "bilan" not in text and "guichets" not in text  # a fragment; an unrelated sentence
        assert BREST not in text  # shares only "usagers" with the question
        both = self.answer(backend, "Quelles démarches ?")
        assert both.count(f"**{BREST}**") == 1 and both.count(f"**{LYON}**") == 1
        for line in text.splitlines():
            assert not line.startswith("- ") or re.search(r"\[\d+\]$", line)

    def test_cites_only_given_passages(self, backend: Backend) -> None:
        tricky = [passage(4, "x", "Fiche X", "Description", "Voir la note [7] pour l'accueil des usagers.")]
        text = self.answer(backend, "accueil des usagers", PASSAGES + tricky)
        assert set(citations(text)) <= {1, 2, 3, 4} and "(7)" in text

    def test_top_passage_is_quoted_even_without_overlap(self, backend: Backend) -> None:
        assert 1 in citations(self.answer(backend, "Quoi de neuf ?"))

    def test_without_overlap_initiatives_ranked_alike_are_each_quoted_once(self, backend: Backend) -> None:
        five = [passage(n, fiche, f"Fiche {fiche}", "Description", f"Le lieu {n} ouvre ses portes au public.")
                for n, fiche in enumerate("aabcd", start=1)]
        assert citations(self.answer(backend, "How do you avoid queues?", five)) == [1, 3, 4, 5]

    def test_list_question_names_each_matching_initiative_once(self, backend: Backend) -> None:
        text = self.answer(backend, "Quelles initiatives impliquent les agents ?")
        assert text.count(BREST) == 1 and LYON not in text
        assert re.search(rf"- \*\*{BREST}\*\* : .*agents.* \[[13]\]", text)

    def test_list_question_leaves_out_initiatives_matching_only_a_minor_word(self, backend: Backend) -> None:
        mobile = passage(1, "meen", "Saint Méen", "Méthodologie mise en place",
                         "Une borne d'accueil mobile a été expérimentée à l'entrée.")
        minor = passage(2, "cdas", "CDAS", "Réalisations", "Une fiche recette a été élaborée pour tester ailleurs.")
        text = self.answer(backend, "Quelles initiatives ont testé une borne d'accueil mobile ?", [mobile, minor])
        assert "Saint Méen" in text and "CDAS" not in text

    def test_a_quote_repeated_with_a_typo_is_quoted_once(self, backend: Backend) -> None:
        quote = "Le projet a permis de penser une offre France Services adaptée au territoire montagnard."
        typo = quote.replace("penser", "pen ser")
        twice = [passage(1, "a", "Fiche A", "Description", quote), passage(2, "a", "Fiche A", "Réalisations", typo)]
        assert citations(self.answer(backend, "offre France Services adaptée au territoire", twice)) == [1]

    def test_list_question_in_english_lists_all_when_none_matches(self, backend: Backend) -> None:
        text = self.answer(backend, "List the initiatives that exist?")
        assert text.count(BREST) == 1 and text.count(LYON) == 1

    def test_caps_sentences_per_passage_and_overall(self, backend: Backend) -> None:
        many = [passage(n, f"f{n}", f"Fiche {n}", "Description",
                        " ".join(f"L'accueil numérique {n} {act} les usagers." for act in ACTS))
                for n in range(1, 8)]
        found = citations(self.answer(backend, "accueil numérique des usagers", many))
        assert len(found) == 8 and max(found.count(n) for n in set(found)) == 2
        assert set(found) == set(range(1, 8))  # breadth first: every passage before a second sentence

    def test_second_sentence_only_if_strong(self, backend: Backend) -> None:
        two = [passage(1, "a", "A", "Enjeux",
                       "La confidentialité de l'accueil est garantie. L'accueil ouvre le lundi."),
               passage(2, "b", "B", "Enjeux", "Un accueil au guichet unique du centre.")]
        text = self.answer(backend, "confidentialité de l'accueil", two)
        assert "garantie. [1]" in text and "lundi" not in text
        assert "guichet" not in text  # B shares only the ubiquitous "accueil"

    def test_markup_is_quoted_as_text(self, backend: Backend) -> None:
        html = [passage(1, "h", "Fiche <i>H</i>", "Description", "<script>x</script>Un accueil <b>chaleureux</b> ici.")]
        text = self.answer(backend, "accueil chaleureux", html)
        assert "<" not in text and "Un accueil chaleureux ici. [1]" in text

    def test_metadata_is_quoted_only_when_asked_or_alone_to_answer(self, backend: Backend) -> None:
        meta = passage(1, "brest", BREST, "Fiche",
                       "Acteur : Agence DETEA.\nVille : Brest.\nÉchelle d'action : Commune.")
        body = passage(2, "brest", BREST, "Réalisations",
                       "Une nouvelle signalétique a été installée dans le hall à Brest.")
        content = self.answer(backend, "quelle signalétique dans le hall à Brest ?", [meta, body])
        assert citations(content) == [2] and "Ville" not in content
        asked = self.answer(backend, "dans quelle ville se trouve le projet de Brest ?", [meta, body])
        assert "Ville : Brest. [1]" in asked
        named = self.answer(backend, "que fait l'agence DETEA ?", [meta, body])
        assert "Acteur : Agence DETEA. [1]" in named and "Ville" not in named

    def test_no_passage_says_not_covered(self, backend: Backend) -> None:
        assert "ne couvre pas" in self.answer(backend, "Une question", [])


@pytest.mark.parametrize(("question", "listing"), [
    ("Quelles initiatives accueillent des jeunes ?", True), ("Quels sont les projets à Nantes ?", True),
    ("Which initiatives use design?", True), ("Lister les actions en Bretagne", True),
    ("Y a-t-il des initiatives en préfecture ?", True), ("Comment améliorer l'accueil ?", False),
    ("Quel est le budget du projet de Brest ?", False),
])
def test_list_questions_are_recognised(question: str, listing: bool) -> None:
    assert bool(LIST_QUESTION.search(fold(question))) is listing


@pytest.mark.parametrize(("question", "about_metadata"), [
    ("Qui contacter pour l'accueil multicanal ?", True), ("Quels sont les partenaires du projet ?", True),
    ("Dans quelle ville est ce projet ?", True), ("Who runs it?", True), ("le lien vers le site", True),
    ("Comment préserver l'anonymat dans la salle d'attente ?", False),
    ("un habitant qui relaie les informations", False),
])
def test_metadata_questions_are_recognised(question: str, about_metadata: bool) -> None:
    assert bool(METADATA_QUESTION.search(fold(question))) is about_metadata


class TestRegistry:
    def test_unknown_backend_lists_valid_names(self, settings: Settings) -> None:
        with pytest.raises(ConfigError, match=r"moteur inconnu « gpt » ; valides : .*extractive.*ollama.*openai"):
            create_backend("gpt", settings)

    def test_default_is_the_settings_backend(self, settings: Settings) -> None:
        assert create_backend(None, settings).name == "extractive"
        assert create_backend(None, load_settings(backend="ollama")).name == "ollama"

    def test_options_come_from_settings_then_overrides(self, settings: Settings) -> None:
        tuned = load_settings(llm_api_key_env=KEY_ENV, llm_model="m1", llm_base_url="http://h:1", temperature=0.7)
        backend = create_backend("ollama", tuned, model="m2")
        options = backend.options
        assert (options.model, options.base_url, options.temperature) == ("m2", "http://h:1", 0.7)
        assert backend.options.api_key.get_secret_value() == SECRET

    def test_the_llm_address_is_that_of_the_configured_engine_only(self) -> None:
        """RAG_LLM_BASE_URL is RAG_BACKEND's server: another engine (``ask --backend ollama``,
        the API, a cleared sidebar field) starts on its own address, not on the OpenAI
        server's /v1; an explicit address still wins."""
        openai_set = load_settings(backend="openai", llm_base_url="http://h:1/v1")
        assert create_backend("openai", openai_set).options.base_url == "http://h:1/v1"
        assert create_backend("ollama", openai_set).options.base_url == "http://127.0.0.1:11434"
        assert create_backend("ollama", openai_set, base_url=None).options.base_url == "http://127.0.0.1:11434"
        assert create_backend("ollama", openai_set, base_url="http://o:2").options.base_url == "http://o:2"
        ollama_set = load_settings(backend="ollama", llm_base_url="http://o:2")
        assert create_backend(None, ollama_set).options.base_url == "http://o:2"
        assert create_backend("openai", ollama_set).options.base_url == "http://127.0.0.1:8000/v1"

    def test_with_the_extractive_engine_the_llm_address_is_every_llm_engine_s(self) -> None:
        extractive = load_settings(backend="extractive", llm_base_url="http://h:1/v1")
        assert {create_backend(name, extractive).options.base_url for name in ("openai", "ollama")} == {
            "http://h:1/v1"}

    def test_general_llm_override_ignored_by_extractive_but_typo_rejected(self, settings: Settings) -> None:
        assert create_backend("extractive", settings, model="x", temperature=0.1).name == "extractive"
        with pytest.raises(ConfigError, match="« openai » n'a pas d'option modle ; options valides : base_url"):
            create_backend("openai", settings, modle="x")

    def test_invalid_option_is_one_config_error(self, settings: Settings) -> None:
        with pytest.raises(ConfigError, match="options invalides pour le moteur « openai » : base_url : doit"):
            create_backend("openai", settings, base_url="ftp://example")

    def test_fake_backend_replays_queue_and_errors(self, settings: Settings) -> None:
        FakeBackend.reset()
        FakeBackend.queue("Deux mots", ["a", BackendUnavailable("fake", "down")])
        backend = create_backend("fake", settings, model="x")
        assert list(backend.stream(REQUEST)) == ["Deux ", "mots"]
        pieces, error = drain(backend)
        assert pieces == ["a"] and str(error) == "moteur « fake » : down"
        assert backend.complete(REQUEST) == FakeBackend.default_reply and len(FakeBackend.requests) == 3
