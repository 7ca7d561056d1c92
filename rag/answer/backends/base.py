"""The backend protocol: one class, one required streaming method, registered by name.

Adding a backend = one file defining a subclass decorated with ``@register`` plus one
import line in ``rag/backends/__init__.py``. Capabilities are class attributes; options
are a pydantic model built from the settings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

from pydantic import BaseModel

from rag.types import GenerationRequest


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

    def close(self) -> None:
        """Release long-lived resources (HTTP client)."""
