"""The backend protocol: one class, one required streaming method, registered by name.

Adding a backend = one file defining a subclass decorated with ``@register`` plus one
import line in ``rag/answer/backends/__init__.py``. Capabilities are class attributes;
options are a pydantic model built from the settings.

An LLM backend also tells the context window its prompt is budgeted for
(:meth:`Backend.context_window`): HTTP backends ask their server and learn from its
refusals (see :mod:`rag.answer.backends.http`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from rag.errors import BackendError
from rag.types import GenerationRequest

DEFAULT_CONTEXT_WINDOW = 8192
"""Tokens assumed when neither ``RAG_CONTEXT_WINDOW`` nor the server says otherwise."""

FROM_SETTING = "réglage RAG_CONTEXT_WINDOW"


@dataclass(frozen=True)
class ContextWindow:
    """A context window in tokens, and where that figure comes from (French, for the UI):
    the setting, the server's own announcement, a refusal it answered, or the default."""

    tokens: int
    source: str


class ContextOverflow(BackendError):
    """The server refused the prompt as longer than its context window.

    ``window`` is the window it announced in the refusal and ``prompt_tokens`` the prompt
    length it counted, when its message says so (``None`` otherwise)."""

    def __init__(self, backend: str, message: str, window: int | None = None,
                 prompt_tokens: int | None = None) -> None:
        super().__init__(backend, message)
        self.window, self.prompt_tokens = window, prompt_tokens


class Backend(ABC):
    """Base class. ``Options`` is the pydantic model of the backend's options."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = BaseModel
    uses_llm: ClassVar[bool] = True  # False: no prompt, no rewrite by LLM (extractive)
    needs_network: ClassVar[bool] = True

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Yield the answer text as it is produced. Raise ``BackendError`` subclasses."""

    def complete(self, request: GenerationRequest) -> str:
        """The whole answer (used for question rewriting)."""
        return "".join(self.stream(request))

    def context_window(self) -> ContextWindow | None:
        """The window the prompt is budgeted for: the ``context_window`` option when the
        backend has one set, else ``None`` (the pipeline then uses the settings)."""
        tokens = getattr(self.options, "context_window", None)
        return ContextWindow(tokens, FROM_SETTING) if isinstance(tokens, int) else None

    def close(self) -> None:  # noqa: B027 - a hook: most backends hold nothing
        """Release long-lived resources (HTTP client)."""
