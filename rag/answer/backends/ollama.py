"""``ollama``: Ollama's native ``/api/chat``, streamed as NDJSON (one JSON object a line,
the last with ``"done": true`` and a ``done_reason``; an ``{"error": ...}`` line reports
a failure mid-stream). ``max_tokens`` is sent as ``options.num_predict``.

Ollama never refuses a prompt longer than its window: it silently cuts it (the system
rules first). So ``options.num_ctx`` is sent explicitly on every request, equal to the
window the prompt was budgeted for: ``RAG_CONTEXT_WINDOW`` when set, else the model's
``num_ctx`` parameter from ``/api/show``, else its ``*.context_length`` capped at 8192
(Ollama reserves memory for the whole ``num_ctx``: set ``RAG_CONTEXT_WINDOW`` to use more).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx

from rag.answer.backends import register
from rag.answer.backends.base import DEFAULT_CONTEXT_WINDOW, ContextWindow
from rag.answer.backends.http import HttpBackend, chat_messages, sent_body
from rag.answer.backends.http_options import HttpOptions
from rag.types import GenerationRequest

_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.M)


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
    show_path = "/api/show"

    def payload(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        options = {"temperature": self.options.temperature,
                   "num_ctx": request.context_window or self.context_window().tokens,
                   "num_predict": request.max_tokens or self.options.max_tokens}
        return {"model": model, "messages": chat_messages(request), "stream": stream, "options": options}

    def parse_stream(self, response: httpx.Response) -> Iterator[str]:
        for line in response.iter_lines():
            if not line.strip():
                continue
            event = self._decode_event(line, "ligne NDJSON")
            content = (event.get("message") or {}).get("content")
            if content:
                yield content
            if event.get("done"):
                if event.get("done_reason") == "length":
                    self._warn_cut((sent_body(response).get("options") or {}).get("num_predict"))
                return
        raise self._incomplete("sans ligne done")

    def parse_complete(self, data: Any) -> str:
        return data["message"]["content"] or ""

    def parse_models(self, data: Any) -> list[str]:
        return [model["name"] for model in data["models"]]

    def discover_context_window(self, model: str) -> ContextWindow | None:
        """``/api/show``: the Modelfile's ``num_ctx`` parameter, else the model's
        ``<family>.context_length`` capped at the default (see the module doc)."""
        shown = self._get_json(self.show_path, {"model": model})
        if not isinstance(shown, dict):
            return None
        found = _NUM_CTX.search(str(shown.get("parameters") or ""))
        if found:
            return ContextWindow(int(found.group(1)), "annoncée par le serveur (/api/show, num_ctx)")
        info = shown.get("model_info")
        lengths = [v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int) and v > 0] \
            if isinstance(info, dict) else []
        if not lengths:
            return None
        if lengths[0] <= DEFAULT_CONTEXT_WINDOW:
            return ContextWindow(lengths[0], "annoncée par le serveur (/api/show, context_length)")
        return ContextWindow(DEFAULT_CONTEXT_WINDOW, f"{DEFAULT_CONTEXT_WINDOW} (le modèle accepte {lengths[0]} : "
                             "fixez RAG_CONTEXT_WINDOW pour en utiliser plus)")
