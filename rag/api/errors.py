"""Errors in OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with French messages.

Every failure leaves the API as one of these bodies with a meaningful status: bad input
4xx (a validation error is a 400, as OpenAI answers, not FastAPI's 422), an index or
store problem 503, a failing LLM backend 502 (with the sources found, see
:mod:`rag.api.chat`), and anything unexpected a 500 whose message names no internals.
A traceback never reaches a client; it is logged on the server's stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BackendError,
    ConfigError,
    ConversationNotFound,
    DatabaseError,
    IndexUnavailable,
    InputError,
    RagError,
    StoreUnavailable,
)

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """OpenAI's error object."""

    message: str
    type: str
    code: str | None = None
    param: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error to send as it is: status, French message, OpenAI type and code."""

    def __init__(self, status: int, message: str, code: str, type_: str = "invalid_request_error",
                 param: str | None = None, extra: dict[str, object] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.type, self.param = status, message, code, type_, param
        self.extra, self.headers = extra or {}, headers

    def response(self) -> JSONResponse:
        """The JSON response: the error object, then ``extra`` keys (e.g. ``sources``)."""
        detail = ErrorDetail(message=self.message, type=self.type, code=self.code, param=self.param)
        return JSONResponse({"error": detail.model_dump(), **self.extra}, status_code=self.status,
                            headers=self.headers)


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in ((400, "requête invalide"), (401, "clé d'API manquante ou invalide"),
                         (404, "introuvable"), (502, "le moteur de réponse a échoué"),
                         (503, "index ou base de vecteurs indisponible"))
}
"""The error statuses documented in the OpenAPI schema of every /v1 route."""

_STATUS_TEXT = {404: ("ressource introuvable", "not_found"), 405: ("méthode non autorisée", "method_not_allowed"),
                413: ("requête trop volumineuse", "request_too_large")}

_VALIDATION_TEXT = {
    "missing": "champ obligatoire manquant",
    "too_short": "trop peu d'éléments",
    "too_long": "trop d'éléments",
    "string_too_long": "texte trop long",
    "string_type": "un texte est attendu",
    "bool_type": "un booléen est attendu",
    "bool_parsing": "un booléen est attendu",
    "int_type": "un entier est attendu",
    "int_parsing": "un entier est attendu",
    "float_type": "un nombre est attendu",
    "float_parsing": "un nombre est attendu",
    "list_type": "une liste est attendue",
    "dict_type": "un objet JSON est attendu",
    "model_attributes_type": "un objet JSON est attendu",
    "literal_error": "valeur non reconnue",
    "string_pattern_mismatch": "texte vide",
    "extra_forbidden": "champ inconnu",
    "enum": "valeur non reconnue",
    "greater_than_equal": "valeur trop petite",
    "greater_than": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "less_than": "valeur trop grande",
    "union_tag_invalid": "type non reconnu",
}


def validation_message(errors: Sequence[dict]) -> tuple[str, str | None]:
    """A French sentence for pydantic's errors (at most three) and the first field's name."""
    parts, first = [], None
    for error in errors[:3]:
        if error.get("type") == "json_invalid":
            return "corps de requête JSON invalide : envoyez un objet JSON valide (UTF-8)", None
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "corps"
        first = first or field
        reason = _VALIDATION_TEXT.get(str(error.get("type")), "valeur invalide")
        expected = error.get("ctx", {}).get("expected") if isinstance(error.get("ctx"), dict) else None
        parts.append(f"« {field} » : {reason}" + (f" (attendu : {expected})" if expected else ""))
    return "requête invalide : " + " ; ".join(parts), first


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    message, field = validation_message(list(errors))
    code = "invalid_json" if field is None and "JSON" in message else "invalid_request"
    return ApiError(400, message, code, param=field).response()


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    text, code = _STATUS_TEXT.get(exc.status_code, ("requête refusée", "http_error"))
    return ApiError(exc.status_code, text, code, headers=dict(exc.headers or {})).response()


def rag_error(exc: RagError) -> ApiError:
    """Our exception tree -> the API error (status and code)."""
    if isinstance(exc, ConversationNotFound):
        return ApiError(404, str(exc), "conversation_not_found")
    if isinstance(exc, DatabaseError):
        return ApiError(503, f"base des conversations indisponible : {exc}", "database_unavailable",
                        "service_unavailable")
    if isinstance(exc, InputError):
        return ApiError(400, f"requête invalide : {exc}", "invalid_request")
    if isinstance(exc, (IndexUnavailable, StoreUnavailable)):
        return ApiError(503, f"index indisponible : {exc}", "index_unavailable", "service_unavailable")
    if isinstance(exc, BackendError):
        return ApiError(502, f"le moteur de réponse a échoué : {exc}", "backend_error", "backend_error")
    if isinstance(exc, ConfigError):
        return ApiError(500, f"configuration du serveur invalide : {exc}", "config_error", "server_error")
    return ApiError(500, f"erreur du serveur : {exc}", "server_error", "server_error")


async def _on_rag_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    return rag_error(exc).response()


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return ApiError(500, "erreur interne du serveur (détails dans le journal du serveur)", "internal_error",
                    "server_error").response()


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to an OpenAI-shaped JSON body."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RagError, _on_rag_error)
    app.add_exception_handler(Exception, _on_unexpected)
