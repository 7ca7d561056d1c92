"""``openai``: any OpenAI-compatible ``/chat/completions`` server (vLLM, llama.cpp server,
llama-cpp-python, LM Studio, Albert, Mistral, OpenAI), streamed as Server-Sent Events
(decoded by ``httpx-sse``).

``base_url`` includes the API version prefix, as in the OpenAI SDK
(``http://127.0.0.1:8000/v1``, ``https://api.mistral.ai/v1``); a bare host such as
``http://127.0.0.1:8000`` gets ``/v1`` appended. The API has no context-window field: the
window is read from ``/v1/models`` (vLLM's ``max_model_len``) or llama.cpp's ``/props``
(``n_ctx``), and the pipeline budgets the prompt for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from httpx_sse import EventSource, SSEError
from pydantic import field_validator

from rag.answer.backends import register
from rag.answer.backends.base import ContextOverflow, ContextWindow
from rag.answer.backends.http import HttpBackend, chat_messages, sent_body
from rag.answer.backends.http_options import HttpOptions
from rag.types import GenerationRequest


class OpenAIOptions(HttpOptions):
    """Options of the ``openai`` backend."""

    base_url: str = "http://127.0.0.1:8000/v1"

    @field_validator("base_url")
    @classmethod
    def _api_prefix(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        return value + "/v1" if urlsplit(value).path in ("", "/") else value


def _positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@register
class OpenAIBackend(HttpBackend):
    """Chat completions over SSE: ``data: {...}`` events closed by ``data: [DONE]``."""

    name = "openai"
    Options: ClassVar[type[HttpOptions]] = OpenAIOptions
    chat_path = "/chat/completions"
    models_path = "/models"

    def payload(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        return {"model": model, "messages": chat_messages(request), "stream": stream,
                "temperature": self.options.temperature,
                "max_tokens": request.max_tokens or self.options.max_tokens}

    def parse_stream(self, response: httpx.Response) -> Iterator[str]:
        finished, events = False, 0
        try:
            for sse in EventSource(response).iter_sse():
                if not sse.data:  # an event without data (only ``retry:`` or ``id:``): nothing to show
                    continue
                events += 1
                if sse.data.strip() == "[DONE]":
                    return
                event = self._decode_event(sse.data, "donnée SSE", shape="événement SSE")
                for choice in event.get("choices") or []:
                    if choice.get("index", 0) != 0:
                        continue
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        yield content
                    if choice.get("finish_reason"):
                        finished = True
                        if choice["finish_reason"] == "length":
                            self._warn_cut(sent_body(response).get("max_tokens"))
        except SSEError as exc:
            raise self._protocol(f"pas de flux d'événements de {self._url(self.chat_path)} ({exc})") from None
        if not finished:
            raise self._incomplete("sans [DONE]", events)

    def explain_empty_stream(self, body: dict[str, Any]) -> None:
        """Ask again unstreamed for one token: llama-cpp-python refuses a prompt beyond its
        window with a 400 only then (streamed, it sends an empty event stream)."""
        probe = {**body, "stream": False, "max_tokens": 1}
        for _ in range(2):  # the dead stream's connection may be handed out once more
            try:
                response = self._client.post(self.chat_path, json=probe)
            except httpx.TransportError:
                continue
            error = self._status_error(response, 1) if response.status_code != 200 else None
            if isinstance(error, ContextOverflow):
                self.window.learn(error)
                raise error from None
            return

    def parse_complete(self, data: Any) -> str:
        return data["choices"][0]["message"]["content"] or ""

    def parse_models(self, data: Any) -> list[str]:
        return [model["id"] for model in data["data"]]

    def discover_context_window(self, model: str) -> ContextWindow | None:
        """vLLM: ``max_model_len`` on the model's entry of ``/v1/models``; llama.cpp's
        server: ``/props`` (``default_generation_settings.n_ctx``, or ``n_ctx``), beside ``/v1``."""
        listing = self._get_json(self.models_path)
        entries = listing.get("data") if isinstance(listing, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("id") == model and _positive_int(entry.get("max_model_len")):
                return ContextWindow(entry["max_model_len"], "annoncée par le serveur (/v1/models, max_model_len)")
        root = self.options.base_url.removesuffix("/v1")
        props = self._get_json(f"{root}/props")
        if isinstance(props, dict):
            settings = props.get("default_generation_settings")
            n_ctx = _positive_int(settings.get("n_ctx") if isinstance(settings, dict) else None)
            n_ctx = n_ctx or _positive_int(props.get("n_ctx"))
            if n_ctx:
                return ContextWindow(n_ctx, "annoncée par le serveur (/props, n_ctx)")
        return None
