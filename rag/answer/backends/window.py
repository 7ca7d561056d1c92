"""The context window of one engine, server and model: found once, lowered by refusals.

``RAG_CONTEXT_WINDOW`` when set; else what the server announces (the backend's
``discover`` callable knows where: ``/v1/models``, ``/props``, ``/api/show``); else
:data:`~rag.answer.backends.base.DEFAULT_CONTEXT_WINDOW`. A server that could not be
asked gets the default and is asked again once :data:`UNREACHABLE_SECONDS` have passed
(so a chat rerun does not wait on it each time, and a server started meanwhile is
found). A refusal naming the window (:class:`~rag.answer.backends.base.ContextOverflow`)
replaces whatever was known: the server is the authority on what it accepts.

One holder is shared by the backend instances of the same engine, server and model
(:meth:`rag.answer.backends.http.HttpBackend.share_window`, done by
:meth:`rag.services.Services.backend`): a window learnt from a refusal survives a
change of temperature, which makes another instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from rag.answer.backends.base import DEFAULT_CONTEXT_WINDOW, FROM_SETTING, ContextOverflow, ContextWindow
from rag.errors import BackendError

log = logging.getLogger("rag.answer.backends")


UNREACHABLE_SECONDS = 30.0
"""How long a server that could not be asked is not asked again (the default is used)."""


class ServedWindow:
    """Thread-safe holder of the window a backend's prompts are budgeted for."""

    def __init__(self, name: str, setting: int | None, discover: Callable[[], ContextWindow | None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.setting, self.discover, self.clock = name, setting, discover, clock
        self._known: ContextWindow | None = None
        self._unreachable_at: float | None = None  # when the server last could not be asked
        self._lock = threading.Lock()

    @property
    def known(self) -> ContextWindow | None:
        """What was found or learnt so far (``None``: not asked yet, or the server was unreachable)."""
        return self._known

    def get(self) -> ContextWindow:
        """The window, found on first use (see the module doc)."""
        with self._lock:
            pausing = self._unreachable_at is not None and self.clock() - self._unreachable_at < UNREACHABLE_SECONDS
            if self._known is None and not pausing:
                self._known = self._find()
                self._unreachable_at = self.clock() if self._known is None else None
            return self._known or ContextWindow(DEFAULT_CONTEXT_WINDOW, "par défaut (serveur injoignable)")

    def _find(self) -> ContextWindow | None:
        if self.setting:
            return ContextWindow(self.setting, FROM_SETTING)
        try:
            found = self.discover()
        except (httpx.HTTPError, BackendError) as exc:
            log.info("backend '%s': context window not discovered (%s)", self.name, type(exc).__name__)
            return None
        return found or ContextWindow(DEFAULT_CONTEXT_WINDOW, "par défaut (le serveur ne l'annonce pas)")

    def learn(self, overflow: ContextOverflow) -> None:
        """Keep the window a refusal named: later prompts are budgeted for it."""
        if overflow.window:
            with self._lock:
                self._known = ContextWindow(overflow.window, "apprise d'un refus du serveur")
            log.info("backend '%s': the server's context window is %d tokens", self.name, overflow.window)
