"""Bad MCP tool arguments (``question`` missing, ``k`` not a number…) refused in French.

The SDK validates a tool's arguments against its signature and answers a mistake with
pydantic's English text. :class:`FrenchArguments` checks them first, against the same
signatures (same pydantic rules, so nothing the SDK accepted is refused), and answers a
mistake itself, as a tool error in French. It is a server middleware, the SDK's
documented hook (``MCPServer.middleware``); the tools keep their exact signatures, so
the input schemas clients see are unchanged (``question`` still required).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError, create_model
from pydantic_core import ErrorDetails, PydanticUndefined

EXPECTED = {"string_type": "un texte", "int_type": "un nombre entier", "int_parsing": "un nombre entier",
            "int_from_float": "un nombre entier", "dict_type": "un objet {champ: valeur}",
            "bool_type": "un booléen", "bool_parsing": "un booléen", "float_type": "un nombre",
            "float_parsing": "un nombre"}
"""pydantic error type -> what the argument must be, in French."""


class FrenchArguments:
    """``tools/call`` arguments checked against the registered tools' signatures (see
    :meth:`add`); a mistake is a tool error in French, the call never reaches the tool."""

    def __init__(self) -> None:
        self.models: dict[str, type[BaseModel]] = {}

    def add(self, tool: Callable[..., Any]) -> None:
        """Check the arguments of ``tool`` (registered under its function name)."""
        hints = typing.get_type_hints(tool)
        fields: dict[str, Any] = {
            name: (hints[name], PydanticUndefined if param.default is param.empty else param.default)
            for name, param in inspect.signature(tool).parameters.items()}
        self.models[tool.__name__] = create_model(f"{tool.__name__}_arguments", **fields)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.params is not None:
            refused = self.refusal(str(ctx.params.get("name")), ctx.params.get("arguments") or {})
            if refused is not None:
                return CallToolResult(content=[TextContent(type="text", text=refused)], is_error=True)
        return await call_next(ctx)

    def refusal(self, tool: str, arguments: object) -> str | None:
        """Why ``arguments`` cannot go to ``tool``, in French; ``None`` when they can
        (or the tool is not ours: the SDK answers an unknown tool)."""
        model = self.models.get(tool)
        if model is None or not isinstance(arguments, Mapping):
            return None
        try:
            model.model_validate(_json_strings_read(model, arguments))
        except ValidationError as exc:
            problems = " ; ".join(dict.fromkeys(_problem(error) for error in exc.errors()))
            return f"Arguments invalides pour l'outil {tool} : {problems}."
        return None


def _json_strings_read(model: type[BaseModel], arguments: Mapping[str, object]) -> dict[str, object]:
    """The arguments with a JSON object, list or null sent as a string (some clients do) read,
    for a parameter that is not a string: the SDK reads them so before validating."""
    read = dict(arguments)
    for name, value in arguments.items():
        field = model.model_fields.get(name)
        if field is None or field.annotation is str or not isinstance(value, str):
            continue
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if not isinstance(parsed, str | int | float):  # as the SDK: "3" stays a string for pydantic
            read[name] = parsed
    return read


def _problem(error: ErrorDetails) -> str:
    """One mistake, in French: the argument and what it must be."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f"« {where} » est obligatoire"
    expected = EXPECTED.get(error["type"])
    shown = _shown(error.get("input"))
    if expected is None:
        return f"« {where} » a une valeur invalide (reçu : {shown})"
    return f"« {where} » doit être {expected} (reçu : {shown})"


def _shown(value: object) -> str:
    """The value received, as JSON, cut at 60 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"
