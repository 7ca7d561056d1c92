"""What every HTTP backend shares: options, one long-lived client, retries.

A subclass of :class:`HttpBackend` only describes its wire format (paths, payload, how to
parse a streamed body). Retries with exponential backoff happen on connection errors,
408, 429 and 5xx, honouring ``Retry-After`` (capped), and only while nothing has been
yielded: once tokens were shown, a failure is reported, never silently replayed. A read
timeout is not retried either (a slow model would only be slower the second time).
Failures become readable errors in :mod:`rag.answer.backends.http_errors`. The API key is sent
as ``Authorization: Bearer`` and scrubbed from anything a server echoes back.

The context window (:meth:`HttpBackend.context_window`, see
:mod:`rag.answer.backends.window`) is found once per engine, server and model and replaced by the
one a refusal names (HTTP 400 « maximum context length is N tokens »): the pipeline then
rebuilds the prompt and retries once. A stream that ends before its first event is
explained by asking once more without streaming (:meth:`HttpBackend.explain_empty_stream`):
llama-cpp-python answers a streamed prompt beyond its window with an empty event stream,
and the unstreamed one with the 400.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import httpx

from rag.answer.backends.base import Backend, ContextOverflow, ContextWindow
from rag.answer.backends.http_errors import (
    error_text,
    json_body,
    retry_after_seconds,
    scrub,
    status_error,
    status_rule,
    transport_error,
)
from rag.answer.backends.http_options import HttpOptions
from rag.answer.backends.window import ServedWindow
from rag.errors import BackendError, BackendModelNotFound, BackendProtocolError, BackendUnavailable
from rag.types import GenerationRequest

log = logging.getLogger("rag.answer.backends")

RETRY_AFTER_CAP = 30.0
"""Longest wait (seconds) we accept from a ``Retry-After`` header; a longer one fails at
once, saying how long the server asks to wait, rather than freezing the answer."""

_RETRYABLE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
                        httpx.ReadError, httpx.WriteError)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for all clients: building one costs ~0.1 s, sharing it is safe."""
    return httpx.create_ssl_context()


class EmptyStream(BackendProtocolError):
    """A streamed answer that ended before its first event."""


def sent_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON body we sent for ``response`` (to report the ``max_tokens`` it asked)."""
    try:
        body = json.loads(response.request.content or b"{}")
    except (ValueError, httpx.RequestNotRead):
        return {}
    return body if isinstance(body, dict) else {}


def chat_messages(request: GenerationRequest) -> list[dict[str, str]]:
    """The prompt messages, or the bare question when no prompt was built."""
    return request.messages or [{"role": "user", "content": request.question}]


class HttpBackend(Backend):
    """Base of HTTP backends. Subclasses set the paths and implement the wire format."""

    Options: ClassVar[type[HttpOptions]] = HttpOptions
    chat_path: ClassVar[str]
    models_path: ClassVar[str]
    options: HttpOptions

    def __init__(self, options: HttpOptions | None = None) -> None:
        super().__init__(options)
        opts = self.options
        headers = {"Accept": "application/json, text/event-stream, application/x-ndjson"}
        if (secret := opts.secret()) is not None:
            headers["Authorization"] = f"Bearer {secret}"
        timeout = httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout)
        self._client = httpx.Client(base_url=opts.base_url, headers=headers, timeout=timeout,
                                    verify=shared_ssl_context())
        self._model = opts.model
        self._model_lock = threading.Lock()
        self.window = ServedWindow(self.name, opts.context_window,
                                   lambda: self.discover_context_window(self.resolve_model()))

    # -- wire format, per subclass -------------------------------------------------
    @abstractmethod
    def payload(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        """The JSON body of a chat request."""

    @abstractmethod
    def parse_stream(self, response: httpx.Response) -> Iterator[str]:
        """Text pieces from the streamed body; raise ``BackendError`` on bad input."""

    @abstractmethod
    def parse_complete(self, data: Any) -> str:
        """The answer text of a non-streamed response."""

    @abstractmethod
    def parse_models(self, data: Any) -> list[str]:
        """Model names from the models listing."""

    def discover_context_window(self, model: str) -> ContextWindow | None:
        """The window the server announces for ``model``, ``None`` if it says nothing.
        May raise ``httpx.HTTPError`` / ``BackendError`` (then asked again next time)."""
        return None

    # -- public API -----------------------------------------------------------------
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        body = self.payload(request, self.resolve_model(), stream=True)
        yield from self._with_retries(body, self.parse_stream)

    def complete(self, request: GenerationRequest) -> str:
        """One non-streamed request: safe to retry on any failure (nothing was shown)."""
        body = self.payload(request, self.resolve_model(), stream=False)
        return "".join(self._with_retries(body, self._read_complete))

    def list_models(self) -> list[str]:
        """The models the server offers (``GET`` on the models path)."""
        try:
            response = self._client.get(self.models_path)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, self.models_path, yielded=False) from exc
        if response.status_code == 404:
            raise BackendUnavailable(self.name, f"pas de liste des modèles à {self._url(self.models_path)} "
                                     "(HTTP 404) : vérifiez RAG_LLM_BASE_URL / --base-url")
        if response.status_code != 200:
            raise self._status_error(response, attempts=1)
        try:
            return self.parse_models(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise self._protocol(f"liste des modèles illisible de {self._url(self.models_path)}") from exc

    def resolve_model(self) -> str:
        """The configured model, or the server's only model when none is configured."""
        with self._model_lock:
            if self._model is None:
                models = self.list_models()
                if len(models) != 1:
                    offered = ", ".join(models) or "aucun"
                    raise BackendModelNotFound(self.name, f"aucun modèle choisi, et le serveur "
                                               f"{self.options.base_url} en propose : {offered} ; "
                                               "choisissez-le avec RAG_LLM_MODEL ou --model")
                self._model = models[0]
            return self._model

    def context_window(self) -> ContextWindow:
        """The window prompts are budgeted for (see :mod:`rag.answer.backends.window`)."""
        return self.window.get()

    def share_window(self, other: Backend) -> None:
        """Budget for ``other``'s window from now on: the same engine, server and model
        with other options (a temperature), so what one learns the other knows."""
        if isinstance(other, HttpBackend) and other is not self:
            self.window = other.window

    def explain_empty_stream(self, body: dict[str, Any]) -> None:
        """After a stream that ended before its first event: raise the refusal the server
        gives the same request unstreamed, if it refuses it (see the module doc)."""

    def _get_json(self, url: str, body: dict[str, Any] | None = None) -> Any:
        """``GET url`` (``POST body`` if given) as JSON; ``None`` unless it answered 200."""
        response = self._client.post(url, json=body) if body is not None else self._client.get(url)
        return json_body(response) if response.status_code == 200 else None

    def close(self) -> None:
        self._client.close()

    # -- retries --------------------------------------------------------------------
    def _with_retries(self, body: dict[str, Any],
                      parse: Callable[[httpx.Response], Iterable[str]]) -> Iterator[str]:
        """POST ``body`` and yield ``parse(response)``, retrying while nothing was yielded."""
        attempts = self.options.max_retries + 1
        for attempt in range(1, attempts + 1):
            yielded = False
            try:
                with self._client.stream("POST", self.chat_path, json=body) as response:
                    if response.status_code != 200:
                        response.read()
                        delay = self._retry_delay(response, attempt)
                        if attempt == attempts or delay is None:
                            error = self._status_error(response, attempt)
                            if isinstance(error, ContextOverflow):
                                self.window.learn(error)
                            raise error
                        self._wait(attempt, f"HTTP {response.status_code}", delay)
                        continue
                    for piece in parse(response):
                        yielded = True
                        yield piece
                    return
            except EmptyStream:
                self.explain_empty_stream(body)
                raise
            except httpx.HTTPError as exc:
                if yielded or attempt == attempts or not isinstance(exc, _RETRYABLE_TRANSPORT):
                    raise self._transport_error(exc, self.chat_path, yielded) from exc
                self._wait(attempt, type(exc).__name__, self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return self.options.retry_backoff * 2 ** (attempt - 1)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this answer, or ``None``: do not retry it."""
        if not status_rule(response.status_code).retry:
            return None
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is None:
            return self._backoff(attempt)
        return retry_after if retry_after <= RETRY_AFTER_CAP else None

    def _wait(self, attempt: int, reason: str, delay: float) -> None:
        log.info("backend '%s': %s from %s, retry %d/%d in %.2fs", self.name, reason,
                 self._url(self.chat_path), attempt, self.options.max_retries, delay)
        time.sleep(delay)

    def _read_complete(self, response: httpx.Response) -> Iterator[str]:
        response.read()
        try:
            data = response.json()
        except ValueError as exc:
            raise self._protocol(f"réponse non JSON de {self._url(self.chat_path)}") from exc
        if isinstance(data, dict) and data.get("error"):
            raise BackendError(self.name, f"erreur du serveur : {self._error_text(data['error'])}")
        try:
            yield self.parse_complete(data)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._protocol(f"réponse de forme inattendue de {self._url(self.chat_path)}") from exc

    # -- streamed events, shared by subclasses ---------------------------------------
    def _decode_event(self, text: str, kind: str, shape: str | None = None) -> dict[str, Any]:
        """One streamed event as a dict; an ``error`` in it is raised as a ``BackendError``.

        ``kind`` names the framing in messages (``"ligne NDJSON"``); ``shape`` names a
        non-object event, when it is worded otherwise (default: ``kind``).
        """
        try:
            event = json.loads(text)
        except ValueError:
            raise self._protocol(f"{kind} illisible de {self._url(self.chat_path)} : "
                                 f"{scrub(text[:80], self.options.secret())!r}") from None
        if not isinstance(event, dict):
            raise self._protocol(f"{shape or kind} de forme inattendue de {self._url(self.chat_path)}")
        if event.get("error"):
            raise BackendError(self.name, f"erreur du serveur en pleine réponse : {self._error_text(event['error'])}")
        return event

    def _warn_cut(self, max_tokens: int | None = None) -> None:
        """Log that the server stopped the answer at ``max_tokens``."""
        log.warning("backend '%s': answer cut at max_tokens=%d", self.name, max_tokens or self.options.max_tokens)

    def _incomplete(self, marker: str, events: int = 1) -> BackendProtocolError:
        """The error for a stream that ended without its end ``marker`` (e.g. ``sans ligne
        done``); :class:`EmptyStream` when it carried no event at all."""
        kind = EmptyStream if events == 0 else BackendProtocolError
        return kind(self.name, f"le flux de {self._url(self.chat_path)} s'est arrêté avant la fin "
                    f"({marker}) : la réponse est incomplète")

    # -- error mapping ---------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.options.base_url}{path}"

    def _protocol(self, message: str) -> BackendProtocolError:
        return BackendProtocolError(self.name, message)

    def _status_error(self, response: httpx.Response, attempts: int) -> BackendError:
        return status_error(self.name, response, self.options, self._model, attempts)

    def _transport_error(self, exc: httpx.HTTPError, path: str, yielded: bool) -> BackendError:
        return transport_error(self.name, exc, self._url(path), self.options, yielded)

    def _error_text(self, error: object) -> str:
        return error_text(error, self.options.secret())
