"""Request and response models of the API (they are also its OpenAPI schema).

Requests ignore fields they do not know (clients such as Open WebUI send many OpenAI
options we have no use for) but validate every field they use.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import JsonDict, JsonValue

from rag.search.filters import ALIASES, FILTER_FIELDS

MAX_MESSAGES = 200
"""Messages per chat request (history included)."""

MAX_MESSAGE_CHARS = 20_000
"""Characters per message: more is refused (400), not silently cut."""

Mode = Literal["hybrid", "dense", "bm25"]

MAX_FILTER_CHARS = 200

FilterValue = Annotated[str, StringConstraints(pattern=r"\S", max_length=MAX_FILTER_CHARS)]
"""A filter value: some text besides blanks."""

Filters = dict[str, FilterValue]
"""Metadata filters: the keys of ``rag.search.filters.FILTER_FIELDS`` or an alias (checked
by :func:`rag.api.views.check_filters`, in French), e.g. ``{"commune": "Nantes"}``."""

FILTER_KEYS: list[JsonValue] = [*FILTER_FIELDS, *ALIASES]

FILTERS_DOC = f"filtres de métadonnées, parmi : {', '.join([*FILTER_FIELDS, *ALIASES])}"

FILTERS_SCHEMA: JsonDict = {"propertyNames": {"enum": FILTER_KEYS}}


class ContentPart(BaseModel):
    """One part of a multi-part message; only ``text`` parts are read."""

    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of the conversation."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    """OpenAI's ``stream_options``."""

    model_config = ConfigDict(extra="ignore")

    include_usage: bool | None = Field(False, description="true : un dernier fragment, sans choices, porte usage")


class ChatRequest(BaseModel):
    """``POST /v1/chat/completions``: OpenAI's request plus an optional ``filters`` object."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="an id of GET /v1/models (default: the configured engine)")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool | None = Field(False, description="true: flux SSE ; false ou null : une seule réponse")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=100_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=100_000)
    filters: Filters | None = Field(None, description=FILTERS_DOC, json_schema_extra=FILTERS_SCHEMA)


class ApiSource(BaseModel):
    """A passage the answer rests on (``n`` is its number in the text, ``[n]``)."""

    n: int
    fiche_id: str
    title: str
    section: str
    url: str
    excerpt: str
    ville: str = ""
    cited: bool = False


class Usage(BaseModel):
    """Token counts (tiktoken ``cl100k_base``)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class ChatResponse(BaseModel):
    """OpenAI's ``chat.completion`` plus ``sources`` (Perplexity style) and ``abstained``."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[ApiSource]
    abstained: bool = False
    notices: list[str] = Field(default_factory=list,
                               description="remarques en français sur la réponse (question raccourcie, "
                                           "passages écartés pour tenir dans la fenêtre du modèle…)")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "fiches-rag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class SearchRequest(BaseModel):
    """``POST /v1/search``."""

    model_config = ConfigDict(extra="ignore")

    query: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    k: int = Field(10, ge=1, le=50)
    mode: Mode | None = Field(None, description="default: RAG_SEARCH_MODE")
    filters: Filters | None = Field(None, description=FILTERS_DOC, json_schema_extra=FILTERS_SCHEMA)


class SearchHit(BaseModel):
    rank: int
    fiche_id: str
    title: str
    section: str
    score: float
    text: str
    url: str
    ville: str = ""


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    hits: list[SearchHit]


class FicheSummary(BaseModel):
    id: str
    title: str
    ville: str
    echelle: str
    type_acteur: list[str]
    partenaires: list[str]
    url: str


class FicheList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FicheSummary]


class FicheDetail(FicheSummary):
    """A whole fiche: its sections, its metadata, and the same as Markdown."""

    sections: dict[str, str]
    metadata: dict[str, str | list[str]]
    markdown: str


class Health(BaseModel):
    status: str
    fiches: int | None = None
    chunks: int | None = None
