"""Test doubles that are real subclasses (no mocks).

``FakeBackend`` is registered as backend ``"fake"`` when this module is imported (from
tests only, never from ``rag/``). It streams queued replies and records the requests::

    FakeBackend.reset()
    FakeBackend.queue("Réponse [1].", ["Mor", "ceaux"], BackendUnavailable("fake", "down"))
    backend = create_backend("fake", settings)

A reply is a string (streamed word by word), a list of pieces (a ``BackendError`` in
the list is raised at that point, after the earlier pieces were yielded), or a
``BackendError`` (raised before anything is yielded). With an empty queue it answers
``FakeBackend.default_reply``.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterator
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from rag.answer.backends import register
from rag.answer.backends.base import Backend
from rag.errors import BackendError
from rag.types import GenerationRequest

Reply = str | list[str | BackendError] | BackendError


class FakeOptions(BaseModel):
    """The options an LLM backend has, so the pipeline's prompt budget can be tested."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = "fake-model"
    max_tokens: int = 700
    context_window: int = 8192
    temperature: float = 0.2


@register
class FakeBackend(Backend):
    """An LLM-like backend answering from a class-level queue of replies."""

    name = "fake"
    Options = FakeOptions
    uses_llm = True
    needs_network = False
    default_reply: ClassVar[str] = "Réponse de test [1]."
    replies: ClassVar[deque[Reply]] = deque()
    requests: ClassVar[list[GenerationRequest]] = []
    closed: ClassVar[int] = 0
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def queue(cls, *replies: Reply) -> None:
        with cls._lock:
            cls.replies.extend(replies)

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.replies.clear()
            cls.requests.clear()
            cls.closed = 0

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        with self._lock:
            self.requests.append(request)
            reply = self.replies.popleft() if self.replies else self.default_reply
        if isinstance(reply, BackendError):
            raise reply
        pieces = re.findall(r"\S+\s*|\s+", reply) if isinstance(reply, str) else reply
        for piece in pieces:
            if isinstance(piece, BackendError):
                raise piece
            yield piece

    def close(self) -> None:
        with self._lock:
            type(self).closed += 1
