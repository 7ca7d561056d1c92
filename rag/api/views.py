"""What the HTTP API and the MCP server show of the catalogue: search hits, fiches,
sources and the answer engines, computed once here for both.

Texts and links shown go through the deny-list like the answer's sources do (a
hand-edited fiche cannot push a spam link through the API). Bad input raises
:class:`~rag.errors.InputError` with a French message (the API makes it a 400, the MCP
server a tool error).
"""

from __future__ import annotations

from collections.abc import Mapping

from rag.api.schemas import MAX_FILTER_CHARS, ApiSource, FicheDetail, FicheSummary, Mode, SearchHit, SearchResponse
from rag.catalogue.fiche import ECHELLE, PARTENAIRES, TYPE_ACTEUR, VILLE, Fiche
from rag.catalogue.spam import is_spam, mask_spam
from rag.config import Settings
from rag.errors import InputError
from rag.search.filters import check_filters as check_known_filters
from rag.search.filters import fiche_matches
from rag.services import Services
from rag.text import excerpt
from rag.types import Hit, Source

EXCERPT_CHARS = 400

EXTRACTIVE_MODEL = "fiches-extractive"


def engines(settings: Settings) -> dict[str, str]:
    """Model id -> backend name: ``fiches-extractive`` always, and ``fiches-<model>`` for
    the configured LLM backend (``fiches-<backend>`` when no model is named)."""
    found = {EXTRACTIVE_MODEL: "extractive"}
    if settings.backend != "extractive":
        found[f"fiches-{settings.llm_model or settings.backend}"] = settings.backend
    return found


def default_model(settings: Settings) -> str:
    """The id of the configured engine (used when a request names no model)."""
    return next(mid for mid, name in engines(settings).items() if name == settings.backend)


def check_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """:func:`rag.search.filters.check_filters` (aliases resolved, French
    :class:`InputError`), plus the API's bound on a value's length."""
    checked = check_known_filters(filters)
    for key, value in (filters or {}).items():
        if len(value) > MAX_FILTER_CHARS:
            raise InputError(f"valeur du filtre « {key} » trop longue (au plus {MAX_FILTER_CHARS} caractères)")
    return checked


def api_source(source: Source) -> ApiSource:
    """A pipeline source as the API lists it."""
    return ApiSource(n=source.n, fiche_id=source.fiche_id, title=source.title, section=source.section,
                     url=source.url, excerpt=excerpt(source.text, EXCERPT_CHARS), ville=source.ville,
                     cited=source.cited)


def _safe_url(url: str, spam: list[str]) -> str:
    return "" if url and spam and is_spam(url, spam) else url


def search(services: Services, query: str, k: int, mode: Mode | None,
           filters: Mapping[str, str] | None) -> SearchResponse:
    """Passages for ``query`` (the retriever's ranking and per-fiche cap)."""
    checked = check_filters(filters)
    used: Mode = mode or services.settings.search_mode
    hits = services.retriever.search(query, k=k, mode=used, filters=checked)
    spam, fiches = services.spam_patterns(), services.fiches
    return SearchResponse(query=query, mode=used, hits=[_hit(rank, hit, fiches, spam)
                                                        for rank, hit in enumerate(hits, start=1)])


def _hit(rank: int, hit: Hit, fiches: Mapping[str, Fiche], spam: list[str]) -> SearchHit:
    chunk = hit.chunk
    fiche = fiches.get(chunk.fiche_id)
    return SearchHit(rank=rank, fiche_id=chunk.fiche_id, title=chunk.title, section=chunk.section,
                     score=round(hit.score, 6), text=_mask(chunk.text, spam),
                     url=_safe_url(fiche.link if fiche else "", spam), ville=chunk.metadata.get("ville", ""))


def summary(fiche: Fiche, spam: list[str]) -> FicheSummary:
    return FicheSummary(id=fiche.id, title=fiche.title, ville=fiche.first(VILLE), echelle=fiche.first(ECHELLE),
                        type_acteur=fiche.values(TYPE_ACTEUR), partenaires=fiche.values(PARTENAIRES),
                        url=_safe_url(fiche.link, spam))


def list_fiches(services: Services, filters: Mapping[str, str] | None) -> list[FicheSummary]:
    """The catalogue's fiches (those matching ``filters``), in catalogue order."""
    checked = check_filters(filters)
    spam = services.spam_patterns()
    return [summary(f, spam) for f in services.fiches.values() if fiche_matches(f, checked)]


def fiche_detail(services: Services, fiche_id: str) -> FicheDetail | None:
    """The whole fiche, or None when the id is unknown."""
    fiche = services.fiches.get(fiche_id)
    if fiche is None:
        return None
    spam = services.spam_patterns()
    sections = {name: _mask(text, spam) for name, text in fiche.sections.items()}
    metadata: dict[str, str | list[str]] = {
        field: [_mask(v, spam) for v in value] if isinstance(value, list) else _mask(value, spam)
        for field, value in fiche.metadata.items()}
    return FicheDetail(**summary(fiche, spam).model_dump(), sections=sections, metadata=metadata,
                       markdown=_markdown(fiche.title, sections, metadata))


def _mask(text: str, spam: list[str]) -> str:
    return mask_spam(text, spam) if spam else text


def _markdown(title: str, sections: dict[str, str], metadata: dict[str, str | list[str]]) -> str:
    """The fiche as readable Markdown: title, metadata list, one ``##`` per section."""
    lines = [f"# {title}", ""]
    for field, value in metadata.items():
        values = [v for v in (value if isinstance(value, list) else [value]) if v.strip()]
        if values:
            lines.append(f"- **{field}** : {', '.join(values)}")
    for name, text in sections.items():
        lines += ["", f"## {name}", "", text]
    return "\n".join(lines).strip() + "\n"
