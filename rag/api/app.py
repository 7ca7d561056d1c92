"""The FastAPI application: one :class:`~rag.services.Services` per process, created at
start-up (the index is built or brought up to date then, and the model loaded, so the
first request is fast), the routes, and the error handlers.

Streamlit is never imported here: the API runs on the layers below the UI only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from rag.api import chat, routes
from rag.api.auth import load_keys
from rag.api.context import ApiContext
from rag.api.errors import ApiError, install_error_handlers
from rag.config import Settings, get_settings
from rag.errors import RagError
from rag.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2_000_000

CPU_WORKERS = max(2, os.cpu_count() or 2)
"""Threads computing answers at once for engines without LLM (see ``rag.api.chat``)."""


def warm_up(services: Services) -> None:
    """Index if needed (said in the log), then load what every answer uses
    (:meth:`Services.preload`), so the first question is answered as fast as the next."""
    report = services.ensure_index()
    if report is not None:
        log.warning("index construit / mis à jour au démarrage : %s", report.to_json())
    services.preload()


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The API over ``services`` (default: a new one over ``settings`` or the env's)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or Services(settings or get_settings())
        app.state.context = ApiContext(app.state.services)
        app.state.api_keys = load_keys(app.state.services.settings)
        app.state.startup_error = None
        app.state.cpu_limiter = CapacityLimiter(CPU_WORKERS)
        try:
            await run_in_threadpool(warm_up, app.state.services)
        except RagError as exc:  # keep serving: /ready says why, routes answer 503
            log.error("démarrage incomplet : %s", exc)
            app.state.startup_error = exc
        yield

    app = FastAPIOffline(  # /docs and /redoc work on a network without Internet access
        title="Fiches — API du catalogue d'initiatives d'accueil",
        version="1.0.0",
        description="Réponses citées ([n]) à partir du catalogue, compatibles avec l'API OpenAI "
                    "(chat/completions, models), plus la recherche et les fiches.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(routes.probes)
    app.include_router(chat.router)
    app.include_router(routes.router)
    app.add_middleware(BodyLimit)
    app.openapi = lambda: _openapi_without_422(app)  # type: ignore[method-assign]
    return app


def _openapi_without_422(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, less the 422 it documents on every route: a validation error
    is a 400 here (see :mod:`rag.api.errors`), already documented."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


class BodyLimit:
    """Refuse a request body announced larger than :data:`MAX_BODY_BYTES` (413) before
    reading it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"0")
            error = None
            if not length.isdigit():
                error = ApiError(400, "en-tête Content-Length invalide", "invalid_content_length")
            elif int(length) > MAX_BODY_BYTES:
                error = ApiError(413, f"requête trop volumineuse : au plus {MAX_BODY_BYTES} octets",
                                 "request_too_large")
            if error is not None:
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
