"""``openai``: any OpenAI-compatible ``/chat/completions`` server (vLLM, llama.cpp server,
LM Studio, Albert, Mistral, OpenAI), streamed as Server-Sent Events.

``base_url`` includes the API version prefix, as in the OpenAI SDK
(``http://127.0.0.1:8000/v1``, ``https://api.mistral.ai/v1``); a bare host such as
``http://127.0.0.1:8000`` gets ``/v1`` appended. ``context_window`` is not sent (the API
has no such field): the pipeline uses it to budget the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import field_validator

from rag.answer.backends import register
from rag.answer.backends.http import HttpBackend, chat_messages
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


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` payload of each Server-Sent Event; comments (keep-alives) are skipped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


@register
class OpenAIBackend(HttpBackend):
    """Chat completions over SSE: ``data: {...}`` events closed by ``data: [DONE]``."""

    name = "openai"
    Options: ClassVar[type[HttpOptions]] = OpenAIOptions
    chat_path = "/chat/completions"
    models_path = "/models"

    def payload(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        return {"model": model, "messages": chat_messages(request), "stream": stream,
                "temperature": self.options.temperature, "max_tokens": self.options.max_tokens}

    def parse_stream(self, lines: Iterator[str]) -> Iterator[str]:
        finished = False
        for data in iter_sse_data(lines):
            if data.strip() == "[DONE]":
                return
            event = self._decode_event(data, "SSE data", shape="SSE event")
            for choice in event.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                content = (choice.get("delta") or {}).get("content")
                if content:
                    yield content
                if choice.get("finish_reason"):
                    finished = True
                    if choice["finish_reason"] == "length":
                        self._warn_cut()
        if not finished:
            raise self._incomplete("no [DONE]")

    def parse_complete(self, data: Any) -> str:
        return data["choices"][0]["message"]["content"] or ""

    def parse_models(self, data: Any) -> list[str]:
        return [model["id"] for model in data["data"]]
