"""HTTP failures -> the :mod:`rag.errors` a user can act on, through two tables: a status
(:data:`STATUS_RULES`) and a connection failure (:data:`TRANSPORT_RULES`) each map to an
error class and a French message.

Each message names the backend (via :class:`BackendError`), the URL and the setting to
check. Whatever a server sends back is cut to one short line and has the API key
removed (some servers echo the key they refused).
"""

from __future__ import annotations

import email.utils
import html
import json
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx

from rag.answer.backends.base import ContextOverflow
from rag.answer.backends.http_options import HttpOptions
from rag.errors import BackendAuthError, BackendError, BackendModelNotFound, BackendUnavailable


def scrub(text: str, secret: str | None) -> str:
    """Remove a secret from a text bound for a message or a log line."""
    return text.replace(secret, "***") if secret else text


def error_text(error: object, secret: str | None) -> str:
    """A server's error object (``{"message": ...}`` or a string) as one short line."""
    text = error.get("message", json.dumps(error)) if isinstance(error, dict) else str(error)
    return scrub(" ".join(text.split())[:200], secret)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body of a response, ``None`` when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


_TAG = re.compile(r"<[^>]*>")


def server_message(response: httpx.Response, secret: str | None) -> str:
    """The error text of a non-200 answer, whatever its shape (an HTML page: its text).

    Not :func:`rag.text.strip_markup`: that one is for a user's text, where only known
    element names are tags (« <Brest> » is a word); a page known to be HTML loses every
    tag, its ``<!DOCTYPE>`` and its ``<head>`` (whose title repeats the ``<h1>``). With
    it, Apache's 404 page kept ``<!DOCTYPE HTML PUBLIC …>`` and ``<address>…</address>``."""
    data = json_body(response)
    if isinstance(data, dict):
        return error_text(data.get("error", data.get("detail", data.get("message", data))), secret)
    text = response.text
    if "html" in response.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
        text = html.unescape(_TAG.sub(" ", re.sub(r"(?is)<(head|script|style)\b.*?</\1>", " ", text)))
    return error_text(text, secret)


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
    data = json_body(response)
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
                           f"(HTTP {response.status_code} : {error_text(text, secret)}) ; réduisez RAG_TOP_K ou "
                           "RAG_MAX_TOKENS, ou fixez RAG_CONTEXT_WINDOW", window, prompt)


OVERFLOW_STATUSES = frozenset({400, 413, 422})
"""The statuses a server refuses a prompt beyond its window with (read by :func:`context_overflow`)."""


class StatusRule(NamedTuple):
    """What a non-200 status means: the error raised, its French message (``str.format``
    fields: url, status, detail, model, env, unset, tries, later) and whether to retry."""

    error: type[BackendError]
    message: str
    retry: bool = False


_AUTH = StatusRule(BackendAuthError, "le serveur {url} a refusé la requête (HTTP {status}) : vérifiez la clé d'API "
                   "dans la variable d'environnement {env}{unset}")
_SERVER = StatusRule(BackendUnavailable, "erreur du serveur {url} (HTTP {status}){tries} : {detail}", retry=True)
_NO_ROUTE = StatusRule(BackendUnavailable, "rien à l'adresse {url} (HTTP 404 : {detail}) : ce serveur n'y offre pas "
                       "d'API de chat ; vérifiez RAG_LLM_BASE_URL / --base-url (compatible OpenAI : se termine "
                       "par /v1, une seule fois ; Ollama : l'adresse du serveur, sans /v1)")
_NOT_AN_API = StatusRule(BackendUnavailable, "le serveur {url} ne traite pas les requêtes de chat (HTTP {status} : "
                         "{detail}) : ce n'est sans doute pas un serveur de modèle ; vérifiez RAG_LLM_BASE_URL / "
                         "--base-url")
STATUS_RULES: dict[int, StatusRule] = {
    401: _AUTH,
    403: _AUTH,
    404: StatusRule(BackendModelNotFound, "modèle « {model} » inconnu du serveur {url} (HTTP 404 : {detail}) : "
                    "vérifiez RAG_LLM_MODEL / --model et RAG_LLM_BASE_URL / --base-url"),
    408: _SERVER,
    429: StatusRule(BackendUnavailable, "le serveur {url} limite le nombre de requêtes (HTTP 429){tries} ; {later}",
                    retry=True),
    405: _NOT_AN_API,  # a web server, not a model server: asking again will not change it
    501: _NOT_AN_API,
}
"""Each status with its own meaning; any other 5xx is :data:`_SERVER`, any other status
a plain rejection (see :func:`status_rule`)."""
_REJECTED = StatusRule(BackendError, "requête refusée par {url} (HTTP {status}) : {detail}")
_MODEL_WORDS = re.compile(r"model|modèle", re.I)


def _rule_for(status: int, detail: str, model: str | None) -> StatusRule:
    """:func:`status_rule`, except that a 404 whose text says nothing of a model (« Not
    Found », « no route ») is a wrong address, not an unknown model."""
    if status == 404 and not _MODEL_WORDS.search(detail) and not (model and model in detail):
        return _NO_ROUTE
    return status_rule(status)


def status_rule(status: int) -> StatusRule:
    """The rule of a non-200 status (:data:`STATUS_RULES`, else by its class)."""
    return STATUS_RULES.get(status) or (_SERVER if status >= 500 else _REJECTED)


def status_error(name: str, response: httpx.Response, opts: HttpOptions, model: str | None,
                 attempts: int) -> BackendError:
    """Map a non-200 answer to the error telling the user what to check."""
    status, secret = response.status_code, opts.secret()
    if status in OVERFLOW_STATUSES and (overflow := context_overflow(name, response, secret)) is not None:
        return overflow
    wait = retry_after_seconds(response.headers.get("Retry-After"))
    detail = server_message(response, secret)
    rule = _rule_for(status, detail, model)
    return rule.error(name, rule.message.format(
        url=response.request.url, status=status, detail=detail, model=model,
        env=opts.api_key_env, unset="" if secret else " (non définie)",
        tries=f" après {attempts} tentative{'s' if attempts > 1 else ''}",
        later=f"réessayez dans {wait:.0f} s" if wait is not None else "réessayez plus tard",
    ))


TRANSPORT_RULES: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "connexion à {url} sans réponse après {connect:g} s : vérifiez l'adresse "
                           "(RAG_LLM_BASE_URL / --base-url) et le réseau (RAG_CONNECT_TIMEOUT)"),
    (httpx.ConnectError, "connexion impossible à {url} : le serveur est-il démarré ? "
                         "Vérifiez RAG_LLM_BASE_URL / --base-url"),
    (httpx.ReadTimeout, "le serveur {url} {where} : le modèle est peut-être en cours de chargement "
                        "ou surchargé (augmentez RAG_READ_TIMEOUT)"),
)
"""Connection failures, first match wins; any other is :func:`transport_error`'s fallback."""


def transport_error(name: str, exc: httpx.HTTPError, url: str, opts: HttpOptions,
                    yielded: bool) -> BackendError:
    """Map a connection problem to a readable error naming the URL and what to check."""
    template = next((text for kind, text in TRANSPORT_RULES if isinstance(exc, kind)), None)
    if template is not None:
        seconds = f"{opts.read_timeout:g} s"
        where = f"s'est bloqué en pleine réponse (rien reçu en {seconds})" if yielded else \
            f"n'a pas répondu en {seconds}"
        msg = template.format(url=url, connect=opts.connect_timeout, where=where)
    elif yielded:
        msg = f"connexion à {url} perdue en pleine réponse ({type(exc).__name__}) : la réponse est incomplète"
    else:
        msg = f"la requête à {url} a échoué ({type(exc).__name__} : {scrub(str(exc), opts.secret())})"
    return BackendUnavailable(name, msg)
