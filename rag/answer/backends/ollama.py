"""``ollama``: Ollama's native ``/api/chat``, streamed as NDJSON (one JSON object a line,
the last with ``"done": true`` and a ``done_reason``; an ``{"error": ...}`` line reports
a failure mid-stream). ``context_window`` is sent as ``options.num_ctx`` and
``max_tokens`` as ``options.num_predict``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from rag.answer.backends import register
from rag.answer.backends.http import HttpBackend, chat_messages
from rag.answer.backends.http_options import HttpOptions
from rag.types import GenerationRequest


class OllamaOptions(HttpOptions):
    """Options of the ``ollama`` backend."""

    base_url: str = "http://127.0.0.1:11434"


@register
class OllamaBackend(HttpBackend):
    """Native Ollama chat API."""

    name = "ollama"
    Options: ClassVar[type[HttpOptions]] = OllamaOptions
    chat_path = "/api/chat"
    models_path = "/api/tags"

    def payload(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        options = {"temperature": self.options.temperature, "num_ctx": self.options.context_window,
                   "num_predict": self.options.max_tokens}
        return {"model": model, "messages": chat_messages(request), "stream": stream, "options": options}

    def parse_stream(self, lines: Iterator[str]) -> Iterator[str]:
        for line in lines:
            if not line.strip():
                continue
            event = self._decode_event(line, "NDJSON line")
            content = (event.get("message") or {}).get("content")
            if content:
                yield content
            if event.get("done"):
                if event.get("done_reason") == "length":
                    self._warn_cut()
                return
        raise self._incomplete("no done line")

    def parse_complete(self, data: Any) -> str:
        return data["message"]["content"] or ""

    def parse_models(self, data: Any) -> list[str]:
        return [model["name"] for model in data["models"]]
