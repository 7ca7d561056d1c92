"""HTTP failures -> the :mod:`rag.errors` a user can act on.

Each message names the backend (via :class:`BackendError`), the URL and the setting to
check. Whatever a server sends back is cut to one short line and has the API key
removed (some servers echo the key they refused).
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from rag.answer.backends.base import ContextOverflow
from rag.answer.backends.http_options import HttpOptions
from rag.errors import BackendAuthError, BackendError, BackendModelNotFound, BackendUnavailable


def scrub(text: str, secret: str | None) -> str:
    """Remove a secret from a text bound for a message or a log line."""
    return text.replace(secret, "***") if secret else text


def error_text(error: Any, secret: str | None) -> str:
    """A server's error object (``{"message": ...}`` or a string) as one short line."""
    text = error.get("message", json.dumps(error)) if isinstance(error, dict) else str(error)
    return scrub(" ".join(text.split())[:200], secret)


def server_message(response: httpx.Response, secret: str | None) -> str:
    """The error text of a non-200 answer, whatever its shape."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return error_text(data.get("error", data.get("detail", data.get("message", data))), secret)
    return error_text(response.text, secret)


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds (number or HTTP date); ``None`` if absent or invalid."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0)


_OVERFLOW_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_WINDOW = re.compile(r"maximum context length is (\d+)|context window of (\d+)|"
                     r"available context size \((\d+) tokens\)|context length of (\d+)", re.I)
_PROMPT = re.compile(r"\((\d+) in (?:the|your) (?:messages|prompt)|request \((\d+) tokens\)|"
                     r"has (\d+) input tokens|requested tokens \((\d+)\)", re.I)


def _first_number(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return int(next(g for g in match.groups() if g)) if match else None


def context_overflow(name: str, response: httpx.Response, secret: str | None) -> ContextOverflow | None:
    """The refusal of a prompt longer than the server's window, or ``None``.

    Recognised by the error ``code``/``type`` (OpenAI, vLLM and llama-cpp-python say
    ``context_length_exceeded``, llama.cpp ``exceed_context_size_error``) or the wording
    (« maximum context length is N tokens », « exceeds the available context size (N
    tokens) », « exceed context window of N »); the window and the prompt length the
    server counted are read from the message or the ``n_ctx``/``n_prompt_tokens`` fields."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error", data) if isinstance(data, dict) else None
    fields = error if isinstance(error, dict) else {}
    text = str(fields.get("message", error if error is not None else response.text))
    coded = {str(fields.get("code")), str(fields.get("type"))} & _OVERFLOW_CODES
    window = fields.get("n_ctx") if isinstance(fields.get("n_ctx"), int) else _first_number(_WINDOW, text)
    if not coded and window is None:
        return None
    prompt = fields.get("n_prompt_tokens")
    prompt = prompt if isinstance(prompt, int) else _first_number(_PROMPT, text)
    size = f" ({window} tokens)" if window else ""
    return ContextOverflow(name, f"la requête dépasse la fenêtre de contexte du modèle{size} "
                           f"(HTTP {response.status_code}: {error_text(text, secret)}); réduisez RAG_TOP_K ou "
                           "RAG_MAX_TOKENS, ou fixez RAG_CONTEXT_WINDOW", window, prompt)


def status_error(name: str, response: httpx.Response, opts: HttpOptions, model: str | None,
                 attempts: int) -> BackendError:
    """Map a non-200 answer to the error telling the user what to check."""
    status, url = response.status_code, str(response.request.url)
    secret = opts.secret()
    if status in (400, 413, 422) and (overflow := context_overflow(name, response, secret)) is not None:
        return overflow
    if status in (401, 403):
        unset = "" if secret else " (currently not set)"
        return BackendAuthError(name, f"the server at {url} refused the request (HTTP {status}); "
                                f"check the API key in env var {opts.api_key_env}{unset}")
    detail = server_message(response, secret)
    if status == 404:
        return BackendModelNotFound(name, f"model '{model}' unknown to server at {url} (HTTP 404: {detail}); "
                                    "check RAG_LLM_MODEL / --model and RAG_LLM_BASE_URL / --base-url")
    tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}"
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        later = f"retry in {wait:.0f}s" if wait is not None else "retry later"
        return BackendUnavailable(name, f"rate limited by {url} (HTTP 429){tries}; {later}")
    if status >= 500 or status == 408:
        return BackendUnavailable(name, f"server error HTTP {status} from {url}{tries}: {detail}")
    return BackendError(name, f"request rejected by {url} (HTTP {status}): {detail}")


def transport_error(name: str, exc: httpx.HTTPError, url: str, opts: HttpOptions,
                    yielded: bool) -> BackendError:
    """Map a connection problem to a readable error naming the URL and what to check."""
    if isinstance(exc, httpx.ConnectTimeout):
        msg = (f"connecting to {url} timed out after {opts.connect_timeout:g}s; check the address "
               "(RAG_LLM_BASE_URL / --base-url) and the network (RAG_CONNECT_TIMEOUT)")
    elif isinstance(exc, httpx.ConnectError):
        msg = f"cannot connect to {url}; is the server running? check RAG_LLM_BASE_URL / --base-url"
    elif isinstance(exc, httpx.ReadTimeout):
        where = "stalled mid-answer" if yielded else "did not answer"
        msg = (f"the server at {url} {where} within {opts.read_timeout:g}s; the model may be "
               "loading or overloaded (raise RAG_READ_TIMEOUT)")
    elif yielded:
        msg = f"connection to {url} lost mid-answer ({type(exc).__name__}); the answer is incomplete"
    else:
        msg = f"request to {url} failed ({type(exc).__name__}: {scrub(str(exc), opts.secret())})"
    return BackendUnavailable(name, msg)
