"""``python -m rag mcp``: the catalogue as an MCP server (official ``mcp`` SDK, whose
``FastMCP`` is called ``MCPServer`` since mcp 2), over stdio or streamable HTTP.

Tools: ``search_fiches``, ``get_fiche``, ``list_fiches``, ``ask`` (a cited answer from
the pipeline); every fiche is also a resource ``fiche://{id}`` (Markdown). Descriptions
are in French then English: MCP clients show them to people and to models. Bad input
is a tool error with a French message (arguments of the wrong shape too: see
:mod:`rag.api.mcp_arguments`), never a crash of the server.

Over stdio, stdout carries only JSON-RPC: logs and progress go to stderr.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.resources import FunctionResource
from pydantic import BaseModel

from rag.answer.pipeline import ask as answer
from rag.api import listen, views
from rag.api.mcp_arguments import FrenchArguments
from rag.api.schemas import ApiSource, FicheDetail, FicheList, SearchResponse
from rag.errors import RagError
from rag.search.filters import FILTER_FIELDS
from rag.services import Services

T = TypeVar("T")
log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Catalogue d'initiatives d'accueil du service public (fiches). Cherchez avec search_fiches, lisez une fiche "
    "avec get_fiche, ou demandez une réponse citée avec ask. / A catalogue of French public-service reception "
    "initiatives: search with search_fiches, read a fiche with get_fiche, or get a cited answer with ask."
)

FILTERS_HELP = f"Filtres / filters: {', '.join(FILTER_FIELDS)}."


class AskResult(BaseModel):
    """A cited answer: ``[n]`` in ``answer`` refer to ``sources``."""

    answer: str
    sources: list[ApiSource]
    abstained: bool
    error: str | None = None
    notices: list[str] = []


def _guard(call: Callable[[], T]) -> T:
    """Run a tool body; our errors become tool errors (French message)."""
    try:
        return call()
    except RagError as exc:
        raise ToolError(str(exc)) from None


def build_server(services: Services) -> MCPServer:
    """The MCP server over ``services`` (its index must exist: see :func:`serve`)."""
    server = MCPServer(name="fiches", instructions=INSTRUCTIONS)
    arguments = FrenchArguments()
    server.middleware.append(arguments)

    @server.tool(description=(
        "Cherche les passages du catalogue les plus proches d'une question (recherche hybride). "
        "/ Search the catalogue's passages closest to a query (hybrid search). " + FILTERS_HELP))
    def search_fiches(query: str, k: int = 6, filters: dict[str, str] | None = None) -> SearchResponse:
        if not 1 <= k <= 50:
            raise ToolError("k doit être entre 1 et 50 / k must be between 1 and 50")
        return _guard(lambda: views.search(services, query, k, None, filters))

    @server.tool(description=(
        "Renvoie une fiche entière (sections, métadonnées, Markdown) par son identifiant. "
        "/ Return a whole fiche (sections, metadata, Markdown) by its id."))
    def get_fiche(id: str) -> FicheDetail:  # noqa: A002 - the tool's public parameter name
        detail = _guard(lambda: views.fiche_detail(services, id))
        if detail is None:
            raise ToolError(f"fiche inconnue « {id[:100]} » (voir list_fiches) / unknown fiche id")
        return detail

    @server.tool(description=(
        "Liste les fiches du catalogue (identifiant, titre, ville…), éventuellement filtrées. "
        "/ List the catalogue's fiches (id, title, city…), optionally filtered. " + FILTERS_HELP))
    def list_fiches(filters: dict[str, str] | None = None) -> FicheList:
        return FicheList(data=_guard(lambda: views.list_fiches(services, filters)))

    @server.tool(description=(
        "Répond à une question à partir du catalogue seul, chaque affirmation citée [n] (voir sources), "
        "ou dit que le catalogue ne couvre pas la question. / Answer a question from the catalogue only, "
        "each claim cited [n] (see sources), or say the catalogue does not cover it."))
    def ask(question: str) -> AskResult:
        result = _guard(lambda: answer(question, services).result)
        return AskResult(answer=result.answer, sources=[views.api_source(s) for s in result.sources],
                         abstained=result.abstained, error=result.error, notices=result.notices)

    for tool in (search_fiches, get_fiche, list_fiches, ask):
        arguments.add(tool)

    @server.resource("fiche://{fiche_id}", name="fiche", mime_type="text/markdown",
                     description="Une fiche du catalogue, en Markdown / A catalogue fiche, as Markdown")
    def fiche_resource(fiche_id: str) -> str:
        detail = views.fiche_detail(services, fiche_id)
        if detail is None:
            raise ResourceError(f"fiche inconnue « {fiche_id[:100]} »")
        return detail.markdown

    for fiche in services.fiches.values():
        server.add_resource(FunctionResource.from_function(
            fn=_reader(fiche_resource, fiche.id), uri=f"fiche://{fiche.id}", name=fiche.id, title=fiche.title,
            mime_type="text/markdown"))
    return server


def _reader(read: Callable[[str], str], fiche_id: str) -> Callable[[], str]:
    return lambda: read(fiche_id)


def serve(services: Services, sock: socket.socket | None = None) -> None:
    """Index if needed and load what the tools use (:meth:`~rag.services.Services.preload`; a
    failure there is logged, the tools say it when called), then serve over stdio, or
    streamable HTTP (``/mcp``) on ``sock`` (bound by :func:`rag.api.listen.bind`)."""
    services.ensure_index()
    try:
        services.preload()
    except RagError as exc:
        log.warning("chargement incomplet au démarrage : %s", exc)
    server = build_server(services)
    if sock is None:
        server.run("stdio")
    else:
        listen.run(server.streamable_http_app(host=sock.getsockname()[0]), sock)
