"""Answer backends, registered by name and built from the settings.

Adding a backend = one module defining a :class:`Backend` subclass decorated with
``@register``, plus one import line at the bottom of this file.

:func:`create_backend` fills the backend's ``Options`` from the settings: an option named
like a setting takes its value (``base_url`` <- ``llm_base_url``, ``model`` <-
``llm_model``, ``api_key_env`` <- ``llm_api_key_env``, others by the same name), and an
``api_key`` option is read from the env var named by ``llm_api_key_env`` at creation
(held as a ``SecretStr``, so it never shows in a repr, a log line or an error).
``RAG_LLM_BASE_URL`` is the address of ``RAG_BACKEND``'s server, so it fills the
``base_url`` of that engine only; another engine (``ask --backend ollama`` while
``RAG_BACKEND=openai``) starts on its own default address, as Ollama's requests sent to
an OpenAI server's ``/v1`` all fail. When ``RAG_BACKEND`` is no LLM engine (extractive),
the one address given is that of every LLM engine (:func:`takes_llm_base_url`).
Overrides (``base_url=``, ``model=``, ``temperature=``...) win over the settings; an
override of a general LLM setting the backend does not use (``model`` for the extractive
backend) is ignored, any other unknown option is a :class:`ConfigError`.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

from rag.answer.backends.base import Backend
from rag.config import Settings, build_options, from_settings
from rag.errors import ConfigError
from rag.types import GenerationRequest, Passage

REGISTRY: dict[str, type[Backend]] = {}

SETTING_FOR_OPTION: dict[str, str] = {
    "base_url": "llm_base_url",
    "model": "llm_model",
    "api_key_env": "llm_api_key_env",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "context_window": "context_window",
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "max_retries": "max_retries",
}
"""Backend option -> the setting it is filled from (both take their default from
:data:`rag.config.LLM_DEFAULTS`)."""

GENERAL_OPTIONS = frozenset(SETTING_FOR_OPTION) | {"api_key"}
"""Overrides silently ignored by backends that have no such option."""


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend selectable by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


def takes_llm_base_url(name: str, settings: Settings) -> bool:
    """Whether ``RAG_LLM_BASE_URL`` is engine ``name``'s address: it is ``RAG_BACKEND``'s
    server's, or every LLM engine's when ``RAG_BACKEND`` names none (see the module doc)."""
    configured = REGISTRY.get(settings.backend)
    return name == settings.backend or configured is None or not configured.uses_llm


def backend_options(name: str | None, settings: Settings, **overrides: object) -> BaseModel:
    """The options backend ``name`` (default: ``settings.backend``) would be created with
    (see the module doc); the sidebar shows their ``base_url``."""
    name = name or settings.backend
    if name not in REGISTRY:
        raise ConfigError(f"moteur inconnu « {name} » ; valides : {', '.join(sorted(REGISTRY))} "
                          "(RAG_BACKEND / --backend)")
    cls = REGISTRY[name]
    fields = cls.Options.model_fields
    values = from_settings(settings, SETTING_FOR_OPTION, fields)
    if not takes_llm_base_url(name, settings):
        values.pop("base_url", None)
    values.update((key, value) for key, value in overrides.items()
                  if value is not None and (key in fields or key not in GENERAL_OPTIONS))
    if "api_key" in fields and "api_key" not in values:
        values["api_key"] = os.environ.get(str(values.get("api_key_env", settings.llm_api_key_env))) or None
    return build_options(cls.Options, values, f"le moteur « {name} »")


def create_backend(name: str | None, settings: Settings, **overrides: object) -> Backend:
    """A new backend ``name`` (default: ``settings.backend``) configured from the settings."""
    options = backend_options(name, settings, **overrides)  # an unknown name raises here
    return REGISTRY[name or settings.backend](options)


__all__ = ["REGISTRY", "Backend", "GenerationRequest", "Passage", "backend_options", "create_backend", "register",
           "takes_llm_base_url"]

# One line per backend module (importing registers it).
from rag.answer.backends import (  # noqa: E402
    extractive,  # noqa: F401
    ollama,  # noqa: F401
    openai,  # noqa: F401
)
