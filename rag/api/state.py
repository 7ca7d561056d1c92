"""The process-wide objects of the API, kept on ``app.state`` by :mod:`rag.api.app`."""

from __future__ import annotations

from starlette.requests import Request

from rag.api.context import ApiContext
from rag.services import Services


def services_of(request: Request) -> Services:
    """The one :class:`Services` of the process."""
    services: Services = request.app.state.services
    return services


def context_of(request: Request) -> ApiContext:
    """The answering context (the services, with bounded override backends)."""
    context: ApiContext = request.app.state.context
    return context
