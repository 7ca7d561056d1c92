"""A real HTTP server of ours on 127.0.0.1 speaking the OpenAI (SSE) and Ollama (NDJSON)
wire formats, scriptable per test, for testing LLM backends without mocks.

Routes: ``POST /v1/chat/completions`` (``stream`` true or false), ``GET /v1/models``,
``GET /props``, ``POST /api/chat`` (streams unless ``"stream": false``), ``GET /api/tags``,
``POST /api/show``. Each chat request takes the next :class:`Scenario` from the queue (a
normal answer when it is empty); a model not in ``server.models`` gets a 404 and, when
``server.api_key`` is set, a wrong or missing ``Authorization: Bearer`` gets a 401 echoing
what was received (as some real servers do). Every request is recorded as a :class:`Hit`
(path, headers, JSON body, arrival time) so tests can check the prompt, the key and the retries.

A served context window, as real servers have one (:class:`Window`): ``server.window``
advertises it like vLLM (``max_model_len`` in ``/v1/models``), llama.cpp (``/props``),
Ollama (``/api/show``) or not at all (llama-cpp-python), and refuses an OpenAI request
that does not fit as vLLM does (HTTP 400) or as llama-cpp-python 0.3 does (HTTP 400 when
unstreamed; streamed, HTTP 200 and an empty event stream); ``scale`` makes the server
count more tokens than tiktoken does (another tokenizer).

Use: ``from tests.support.fake_llm_server import fake_llm, llm_server  # noqa: F401`` then take
the ``fake_llm`` fixture (one server per session, reset before each test).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rag.tokens import count_tokens
from tests.support.net import free_port

CHAT_PATHS = {"/v1/chat/completions": "openai", "/api/chat": "ollama"}


@dataclass
class Scenario:
    """What the server does with one chat request.

    ``kind``: ``stream`` (answer ``tokens``), ``cut`` (send ``after`` tokens then drop the
    connection), ``stall`` (send ``after`` tokens then sleep ``delay``), ``malformed`` (a
    line that is not JSON), ``error_midstream`` (an error object/line after ``after``
    tokens), ``no_done`` (end cleanly without ``[DONE]`` / ``done``), ``quote`` (answer by
    quoting the first sentence of each passage of the prompt, cited as passage
    ``n + shift``: ``shift`` 0 cites right, 1 deliberately wrong), ``raw`` (send the
    ``tokens`` as raw body chunks, SSE framing included). ``status`` != 200 answers that
    HTTP error (with ``Retry-After`` if given); ``delay`` > 0 sleeps before answering at
    all (a read timeout for the client).
    """

    kind: str = "stream"
    tokens: list[str] = field(default_factory=lambda: ["Bonjour", ", voici", " la réponse [1]."])
    status: int = 200
    retry_after: str | None = None
    error: str = "internal failure"
    delay: float = 0.0
    after: int = 1
    shift: int = 0
    finish: str = "stop"  # the finish_reason / done_reason sent at the end ("length": cut at max_tokens)


@dataclass
class Window:
    """The served context window: its size, where it is advertised (``vllm``: ``/v1/models``,
    ``llamacpp``: ``/props``, ``ollama``: ``/api/show``, ``none``), how an OpenAI request too
    long is refused (``vllm``: prompt + max_tokens > n, ``llama-cpp-python``: prompt >= n),
    and how many tokens the server counts per tiktoken token."""

    tokens: int
    advertise: str = "vllm"
    refusal: str = "vllm"
    scale: float = 1.0


def quote_passages(body: dict[str, Any], shift: int) -> list[str]:
    """The ``quote`` scenario's answer: each passage's first sentence, cited ``[n + shift]``."""
    user = body["messages"][-1]["content"]
    blocks = re.findall(r'<passage n="(\d+)">\n[^\n]*\n(.*?)\n</passage>', user, re.S)
    pieces = []
    for n, text in blocks:
        first = re.split(r"(?<=[.!?])\s", " ".join(text.split()))[0].rstrip(".!?")
        pieces += [f"{first} ", f"[{int(n) + shift}]. "]
    return pieces or ["Le catalogue ne couvre pas cela."]


@dataclass
class Hit:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float


class FakeLLMServer:
    """The server, its scenario queue and its request log (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scenarios: deque[Scenario] = deque()
        self.hits: list[Hit] = []
        self.models = ["test-model"]
        self.api_key: str | None = None
        self.window: Window | None = None
        self.num_ctx_param: int | None = None  # a ``num_ctx`` line in /api/show's Modelfile parameters
        self.sse_type = "text/event-stream"
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self._scenarios.clear()
            self.hits.clear()
        self.models = ["test-model"]
        self.api_key = None
        self.window = None
        self.num_ctx_param = None
        self.sse_type = "text/event-stream"

    def queue(self, *scenarios: Scenario) -> None:
        with self._lock:
            self._scenarios.extend(scenarios)

    def next_scenario(self) -> Scenario:
        with self._lock:
            return self._scenarios.popleft() if self._scenarios else Scenario()

    def record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)

    def chat_hits(self) -> list[Hit]:
        """The chat requests received, in order."""
        with self._lock:
            return [h for h in self.hits if h.path in CHAT_PATHS]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeLLMServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client dropping its connection (timeouts, aborted streams) is expected: stay quiet."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small stream writes would otherwise stall ~40 ms

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Quiet: the tests read ``server.hits`` instead."""

    @property
    def fake(self) -> FakeLLMServer:
        assert isinstance(self.server, _Server)
        return self.server.fake

    def _record(self, body: Any) -> None:
        self.fake.record(Hit(self.command, self.path, dict(self.headers.items()), body, time.monotonic()))

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._record(None)
        window = self.fake.window
        shown = window.tokens if window else None
        if self.path == "/v1/models":
            extra = {"max_model_len": shown} if window and window.advertise == "vllm" else {}
            self._json(200, {"object": "list", "data": [{"id": m, "object": "model", **extra}
                                                        for m in self.fake.models]})
        elif self.path == "/props" and window and window.advertise == "llamacpp":
            self._json(200, {"default_generation_settings": {"n_ctx": shown}, "total_slots": 1})
        elif self.path == "/api/tags":
            self._json(200, {"models": [{"name": m, "model": m} for m in self.fake.models]})
        else:
            self._json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.loads(raw) if raw else None
        self._record(body)
        wire = CHAT_PATHS.get(self.path)
        if self.path == "/api/show":
            window = self.fake.window
            advertised = window is not None and window.advertise == "ollama"
            parameters = "stop \"<end>\"" + (f"\nnum_ctx {self.fake.num_ctx_param}" if self.fake.num_ctx_param else "")
            self._json(200, {"parameters": parameters, "model_info": {
                "general.architecture": "llama", "llama.context_length": window.tokens if advertised else 131072}})
            return
        if wire is None:
            self._json(404, {"error": f"no route {self.path}"})
            return
        try:
            self._chat(wire, body, self.fake.next_scenario())
        except OSError:  # the client went away (timeout test): nothing to answer
            self.close_connection = True

    def _error(self, wire: str, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        payload = {"error": {"message": message, "type": "error", "code": status}} if wire == "openai" \
            else {"error": message}
        self._json(status, payload, headers)

    def _chat(self, wire: str, body: dict[str, Any], sc: Scenario) -> None:
        time.sleep(sc.delay if sc.kind != "stall" else 0)
        received = self.headers.get("Authorization", "")
        if self.fake.api_key is not None and received != f"Bearer {self.fake.api_key}":
            self._error(wire, 401, f"Incorrect API key provided: {received}")
        elif body.get("model") not in self.fake.models:
            self._error(wire, 404, f"model '{body.get('model')}' not found")
        elif sc.status != 200:
            self._error(wire, sc.status, sc.error, {"Retry-After": sc.retry_after} if sc.retry_after else None)
        elif wire == "openai" and (refusal := self._refusal(body)) is not None:
            if self.fake.window.refusal == "llama-cpp-python" and body.get("stream"):
                self._empty_stream()  # what llama-cpp-python 0.3 does: its error is raised inside the stream
            else:
                self._json(400, {"error": refusal} if self.fake.window.refusal != "vllm" else refusal)
        elif not body.get("stream", wire == "ollama"):
            text = "".join(sc.tokens)
            self._json(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}]} if wire == "openai"
                       else {"message": {"role": "assistant", "content": text}, "done": True})
        else:
            self._stream(wire, sc, body)

    def _refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The 400 body of a request beyond the window (vLLM or llama-cpp-python wording)."""
        window = self.fake.window
        if window is None:
            return None
        prompt = int(sum(count_tokens(m["content"]) + 4 for m in body["messages"]) * window.scale)
        asked = body.get("max_tokens") or 16
        if window.refusal == "vllm" and prompt + asked > window.tokens:
            return {"object": "error", "type": "BadRequestError", "param": None, "code": 400, "message": (
                f"This model's maximum context length is {window.tokens} tokens. However, you requested "
                f"{prompt + asked} tokens ({prompt} in the messages, {asked} in the completion). "
                "Please reduce the length of the messages or completion.")}
        if window.refusal == "llama-cpp-python" and prompt >= window.tokens:
            return {"message": f"This model's maximum context length is {window.tokens} tokens. However, you "
                    f"requested {prompt + asked} tokens ({prompt} in the messages, {asked} in the completion). "
                    "Please reduce the length of the messages or completion.",
                    "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}
        return None

    def _empty_stream(self) -> None:
        """HTTP 200, an event stream without any event, then the connection is closed."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def _chunk(self, data: str) -> None:
        raw = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()

    def _event(self, wire: str, payload: Any) -> None:
        line = json.dumps(payload)
        self._chunk(f"data: {line}\n\n" if wire == "openai" else f"{line}\n")

    def _token(self, wire: str, token: str) -> None:
        self._event(wire, {"object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": token}, "finish_reason": None}]} if wire == "openai"
            else {"message": {"role": "assistant", "content": token}, "done": False})

    def _stream(self, wire: str, sc: Scenario, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.fake.sse_type if wire == "openai" else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if sc.kind == "raw":
            for raw in sc.tokens:
                self._chunk(raw)
            self.wfile.write(b"0\r\n\r\n")
            return
        if sc.kind == "quote":
            sc = Scenario(tokens=quote_passages(body, sc.shift))
        if wire == "openai":
            self._chunk(": keep-alive\n\n")
            self._event(wire, {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        tokens = sc.tokens if sc.kind in ("stream", "no_done") else sc.tokens[: sc.after]
        for token in tokens:
            self._token(wire, token)
        if sc.kind == "cut":
            self.close_connection = True  # no terminating chunk: the body is incomplete
            return
        if sc.kind == "stall":
            time.sleep(sc.delay)
        elif sc.kind == "malformed":
            self._chunk("data: {not json\n\n" if wire == "openai" else "{not json\n")
        elif sc.kind == "error_midstream":
            self._event(wire, {"error": {"message": sc.error, "type": "server_error"}} if wire == "openai"
                        else {"error": sc.error})
        elif sc.kind == "stream":
            self._event(wire, {"choices": [{"index": 0, "delta": {}, "finish_reason": sc.finish}]}
                        if wire == "openai" else {"message": {"role": "assistant", "content": ""},
                                                  "done": True, "done_reason": sc.finish})
            if wire == "openai":
                self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[FakeLLMServer]:
    """One fake LLM server for the whole session."""
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The session's fake LLM server, with an empty queue and log for this test."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()
