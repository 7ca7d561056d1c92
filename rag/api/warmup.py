"""What the API (``serve``) and MCP (``mcp``) servers load at start-up, so that the first
question is answered as fast as the next ones."""

from __future__ import annotations

import logging

from rag.answer.abstention import profile
from rag.services import Services
from rag.tokens import count_tokens

log = logging.getLogger(__name__)


def warm_up(services: Services) -> None:
    """Index if needed (said in the log), then :func:`preload`."""
    report = services.ensure_index()
    if report is not None:
        log.warning("index construit / mis à jour au démarrage : %s", report.to_json())
    preload(services)


def preload(services: Services) -> None:
    """Load what every answer uses: the embedding model, the index, the prompts, the
    tokenizer, and the catalogue's abstention profile (cached in the catalogue; about
    2 s with the ``use`` embedder, else paid by the first question)."""
    embedder = services.retriever.embedder
    embedder.embed_query("accueil")
    services.prompts()
    count_tokens("accueil")
    profile(services.fiches, embedder)
