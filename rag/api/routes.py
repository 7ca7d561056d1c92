"""The catalogue routes (``/v1/search``, ``/v1/fiches``, ``/v1/fiches/{id}``) and the
probes (``/health``: the process answers; ``/ready``: index loaded, store reachable)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from rag.api import views
from rag.api.auth import require_key
from rag.api.errors import ERROR_RESPONSES, ApiError, ErrorResponse, rag_error
from rag.api.schemas import MAX_FILTER_CHARS, FicheDetail, FicheList, Health, SearchRequest, SearchResponse
from rag.api.state import services_of
from rag.errors import RagError
from rag.search.filters import ALIASES, FILTER_FIELDS

router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)], responses=ERROR_RESPONSES)
probes = APIRouter()


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, request: Request) -> SearchResponse:
    """The passages of the catalogue closest to ``query`` (hybrid, dense or BM25)."""
    services = services_of(request)
    return await anyio.to_thread.run_sync(views.search, services, body.query, body.k, body.mode, body.filters,
                                          limiter=request.app.state.cpu_limiter)


_FILTER_PARAMETERS = [
    {"name": key, "in": "query", "required": False, "description": f"filtre : {field.label}",
     "schema": {"type": "string", "pattern": r"\S", "maxLength": MAX_FILTER_CHARS}}
    for key, field in FILTER_FIELDS.items()
] + [
    {"name": alias, "in": "query", "required": False, "description": f"filtre : synonyme de « {key} »",
     "schema": {"type": "string", "pattern": r"\S", "maxLength": MAX_FILTER_CHARS}}
    for alias, key in ALIASES.items()
]


@router.get("/fiches", response_model=FicheList, openapi_extra={"parameters": _FILTER_PARAMETERS})
async def list_fiches(request: Request) -> FicheList:
    """The fiches of the catalogue, optionally filtered: every query parameter is a
    filter (``?commune=Nantes``), so an unknown one is a 400, and so is one given twice
    (only one value would be applied)."""
    filters = dict(request.query_params)
    for key in filters:
        if len(request.query_params.getlist(key)) > 1:
            raise ApiError(400, f"requête invalide : le filtre « {key[:100]} » est donné plusieurs fois ; "
                           "donnez-le une seule fois (par ex. ?ville=Nantes)", "invalid_request", param=key[:100])
    return FicheList(data=await run_in_threadpool(views.list_fiches, services_of(request), filters))


@router.get("/fiches/{fiche_id}", response_model=FicheDetail)
async def get_fiche(fiche_id: str, request: Request) -> FicheDetail:
    """A whole fiche: sections, metadata, and the same as Markdown (``markdown``)."""
    detail = await run_in_threadpool(views.fiche_detail, services_of(request), fiche_id)
    if detail is None:
        raise ApiError(404, f"fiche inconnue « {fiche_id[:100]} » (voir GET /v1/fiches)", "fiche_not_found",
                       param="fiche_id")
    return detail


@probes.get("/health", response_model=Health, response_model_exclude_none=True)
async def health() -> Health:
    """Liveness: the process answers (no I/O)."""
    return Health(status="ok")


@probes.get("/ready", response_model=Health, responses={503: {"model": ErrorResponse}})
async def ready(request: Request) -> Health | JSONResponse:
    """Readiness: the index is loaded and the vector store answers."""
    services = services_of(request)
    startup_error: RagError | None = request.app.state.startup_error
    try:
        if startup_error is not None:
            raise startup_error
        chunks = await run_in_threadpool(lambda: services.retriever.store.count())
        return Health(status="ready", fiches=len(services.fiches), chunks=chunks)
    except RagError as exc:
        error = rag_error(exc)
        error.status = 503 if error.status >= 500 else error.status
        return error.response()
