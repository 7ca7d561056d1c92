"""HTTP backends pointed at the wrong address, as found by exploratory QA against a real
llama.cpp server: ``/v1`` doubled, the Ollama engine on an OpenAI server, a plain web
server (Python's own ``http.server``, a real one on 127.0.0.1). Each says what to check
in French, without the server's HTML, and is not retried when retrying cannot help."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from rag.answer.backends import create_backend
from rag.answer.backends.http_errors import server_message
from rag.config import Settings, load_settings
from rag.errors import BackendError, BackendModelNotFound, BackendUnavailable
from rag.types import GenerationRequest
from tests.support.fake_llm_server import FakeLLMServer

REQUEST = GenerationRequest(question="Comment ?", passages=[], messages=[{"role": "user", "content": "Comment ?"}])


@pytest.fixture
def settings() -> Settings:
    return load_settings(connect_timeout=1.0, read_timeout=2.0, max_retries=2)


def failure(settings: Settings, backend: str, base_url: str, model: str = "test-model") -> BackendError:
    engine = create_backend(backend, settings, base_url=base_url, model=model)
    with pytest.raises(BackendError) as info:
        "".join(engine.stream(REQUEST))
    return info.value


class _Counted(SimpleHTTPRequestHandler):
    posts = 0

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        """What the stdlib answers a method it lacks (counted)."""
        type(self).posts += 1
        self.send_error(501, "Unsupported method ('POST')")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet."""


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[str]:
    """``python -m http.server`` on a free port: a web server that is not a model server."""
    (tmp_path / "index.html").write_text("<html><title>Accueil</title><body>Bonjour</body></html>")
    handler = lambda *a: _Counted(*a, directory=str(tmp_path))  # noqa: E731 - the stdlib's own idiom
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Counted.posts = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("backend", "suffix"), [("openai", "/v1/v1"), ("openai", "/api"), ("ollama", "/v1")])
def test_a_wrong_path_is_an_address_to_check_not_an_unknown_model(
        settings: Settings, fake_llm: FakeLLMServer, backend: str, suffix: str) -> None:
    error = failure(settings, backend, fake_llm.url + suffix)
    assert not isinstance(error, BackendModelNotFound), str(error)
    message = str(error)
    assert "HTTP 404" in message and fake_llm.url + suffix in message and "RAG_LLM_BASE_URL" in message, message
    assert "inconnu" not in message and len(fake_llm.chat_hits()) == 0  # the path never reached the chat route


def test_an_unknown_model_is_still_named(settings: Settings, fake_llm: FakeLLMServer) -> None:
    error = failure(settings, "openai", fake_llm.url + "/v1", model="mistral-nope")
    assert isinstance(error, BackendModelNotFound) and "« mistral-nope »" in str(error)


def test_a_plain_web_server_is_said_to_be_no_model_server_at_once(settings: Settings, web_server: str) -> None:
    error = failure(settings, "openai", web_server + "/v1")
    message = str(error)
    assert "HTTP 501" in message and "RAG_LLM_BASE_URL" in message, message
    assert "<" not in message and "DOCTYPE" not in message, message  # the server's HTML page is not pasted
    assert isinstance(error, BackendUnavailable) and _Counted.posts == 1  # not retried: it will not change


def test_an_html_error_page_is_reduced_to_its_text(settings: Settings, web_server: str) -> None:
    engine = create_backend("openai", settings, base_url=web_server + "/v1")  # no model: the listing is asked
    with pytest.raises(BackendError) as info:
        engine.resolve_model()
    assert "HTTP 404" in str(info.value) and "<" not in str(info.value)


APACHE_404 = """<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">
<html><head>
<title>404 Not Found</title>
</head><body>
<h1>Not Found</h1>
<p>The requested URL was not found on this server.</p>
<hr>
<address>Apache/2.4.41 (Ubuntu) Server at 127.0.0.1 Port 80</address>
</body></html>"""


def test_any_tag_of_an_error_page_goes_not_only_the_known_elements() -> None:
    """A page known to be HTML loses its doctype, its head and every tag (``<address>``
    is not among the elements a user's question is stripped of)."""
    response = httpx.Response(404, text=APACHE_404, headers={"Content-Type": "text/html"})
    assert server_message(response, None) == ("Not Found The requested URL was not found on this server. "
                                              "Apache/2.4.41 (Ubuntu) Server at 127.0.0.1 Port 80")
