"""The answering context of the API: the process's :class:`~rag.services.Services`, except
for backends built with a client's generation overrides (``temperature``, ``max_tokens``).

``Services.backend`` keeps one backend per distinct set of overrides for the life of
the process, right for the UI's few settings but unbounded for an API where every
request may send another temperature. Here such backends live in a small LRU cache;
requests without overrides share the process's backends.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from rag.answer.backends import create_backend
from rag.answer.backends.base import Backend
from rag.answer.prompting import Prompts
from rag.catalogue.catalogue import Catalogue
from rag.config import Settings
from rag.search.retrieval import Retriever
from rag.services import Services

OVERRIDE_BACKENDS = 16
"""Backends with client overrides kept at once (least recently used dropped first)."""


class ApiContext:
    """An :class:`~rag.answer.pipeline.AnswerContext` over ``services``."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings: Settings = services.settings
        self._lock = threading.Lock()
        self._backends: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], Backend] = OrderedDict()

    @property
    def fiches(self) -> Catalogue:
        return self.services.fiches

    @property
    def retriever(self) -> Retriever:
        return self.services.retriever

    def prompts(self) -> Prompts:
        return self.services.prompts()

    def spam_patterns(self) -> list[str]:
        return self.services.spam_patterns()

    def backend(self, name: str | None = None, **overrides: object) -> Backend:
        """The shared backend ``name``; with overrides, one from the LRU cache. An evicted
        backend is not closed (a stream may still read it): its client goes with it."""
        name = name or self.settings.backend
        given = {key: value for key, value in overrides.items() if value is not None}
        if not given:
            return self.services.backend(name)
        key = (name, tuple(sorted((k, repr(v)) for k, v in given.items())))
        with self._lock:
            backend = self._backends.pop(key, None) or create_backend(name, self.settings, **given)
            self._backends[key] = backend
            while len(self._backends) > OVERRIDE_BACKENDS:
                self._backends.popitem(last=False)
            return backend
