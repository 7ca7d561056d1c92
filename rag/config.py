"""Settings: one pydantic-settings object read from env vars (prefix ``RAG_``), ``.env``
and an optional TOML file (``RAG_CONFIG_FILE``, default ``rag.toml`` if present).

Secrets are never settings themselves: ``llm_api_key_env`` names the environment
variable holding the key, and :meth:`Settings.api_key` reads it on demand, so a key
cannot end up in a log line, an export or ``repr(settings)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
"""The project folder: bundled corpus, prompts and the default data dir live under it."""

OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True)
class LlmDefaults:
    """The generation defaults, defined once: the settings and the HTTP backends' options
    (``rag.answer.backends.http_options``) both start from these."""

    temperature: float = 0.2
    max_tokens: int = 700
    connect_timeout: float = 5.0
    read_timeout: float = 120.0
    max_retries: int = 2
    api_key_env: str = "RAG_LLM_API_KEY"


LLM_DEFAULTS = LlmDefaults()


class Settings(BaseSettings):
    """Everything configurable. Each field is ``RAG_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", extra="ignore", validate_default=True
    )

    corpus_dir: Path = ROOT / "corpus" / "fiches"
    data_dir: Path = ROOT / ".data"
    denylist_path: Path = ROOT / "corpus" / "denylist.txt"
    places_path: Path = ROOT / "corpus" / "places.csv"
    synonyms_path: Path = ROOT / "corpus" / "synonyms.txt"
    prompts_dir: Path = ROOT / "prompts"
    feedback_eval_path: Path = Field(ROOT / "eval" / "feedback.jsonl", description="the eval set the Retours "
                                     "page's « Ajouter au jeu d'évaluation » appends to")

    chroma_url: str | None = None
    collection: str = "fiches"
    index_check_seconds: float = Field(5.0, ge=0.0, description="server mode: seconds between checks for a new index")

    database_url: str | None = Field(
        None, repr=False,  # may hold a password: kept out of repr and logs (prefer PGPASSWORD)
        description="conversations database (SQLAlchemy URL); default sqlite:///<data_dir>/app.db",
    )

    embedder: str = "use"
    embedder_model_path: Path | None = None
    chunk_tokens: int = Field(150, ge=32, le=4000, description="token budget of a chunk; a longer section is split")

    search_mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    dense_weight: float = Field(0.5, ge=0.0, le=1.0, description="share of the dense list in hybrid fusion")
    query_rewrite: bool = Field(False, description="LLM backends: search with the question plus the passage the model "
                                "writes in the catalogue's words (prompts/hyde.md)")

    top_k: int = Field(6, ge=1, le=50)
    max_per_fiche: int = Field(2, ge=1, le=20)
    max_question_chars: int = Field(2000, ge=50)

    backend: str = "extractive"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str = LLM_DEFAULTS.api_key_env
    temperature: float = Field(LLM_DEFAULTS.temperature, ge=0.0, le=2.0)
    max_tokens: int = Field(LLM_DEFAULTS.max_tokens, ge=16)
    context_window: int | None = Field(None, ge=512, description="tokens; unset: asked to the server, else 8192")
    connect_timeout: float = Field(LLM_DEFAULTS.connect_timeout, gt=0)
    read_timeout: float = Field(LLM_DEFAULTS.read_timeout, gt=0)
    max_retries: int = Field(LLM_DEFAULTS.max_retries, ge=0, le=10)

    abstain_threshold: float = Field(0.0, description="calibrated on the dev set; see rag.answer.pipeline")

    api_keys: SecretStr | None = Field(None, description="bearer keys of `python -m rag serve`, comma-separated")
    api_keys_file: Path | None = Field(None, description="a file of bearer keys, one per line (# comments)")

    @field_validator("corpus_dir", "data_dir", "denylist_path", "places_path", "synonyms_path", "prompts_dir",
                     "embedder_model_path", "feedback_eval_path")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else Path(value).expanduser().resolve()

    def api_key(self) -> str | None:
        """The API key, read from the env var named by ``llm_api_key_env`` (never stored)."""
        return os.environ.get(self.llm_api_key_env) or None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("RAG_CONFIG_FILE", "rag.toml")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_file)
        return init_settings, env_settings, dotenv_settings, toml


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one readable :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = " ; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"réglages invalides : {problems}") from None


def from_settings(settings: Settings, setting_for: Mapping[str, str], accepted: Iterable[str]) -> dict[str, object]:
    """The values of the options in ``accepted`` that mirror a setting (``setting_for``:
    option -> setting), left out when the setting is unset: backends and embedders fill
    their ``Options`` model this way."""
    wanted = set(accepted)
    values = {option: getattr(settings, name) for option, name in setting_for.items() if option in wanted}
    return {option: value for option, value in values.items() if value is not None}


def build_options(model: type[OptionsT], values: Mapping[str, object], owner: str) -> OptionsT:
    """``model(**values)``, the options of a backend or an embedder, or one French
    :class:`ConfigError` naming ``owner`` (« le moteur « openai » »): an unknown option
    lists the valid ones, a bad value says what is wrong with it."""
    unknown = [key for key in values if key not in model.model_fields]
    if unknown:
        valid = ", ".join(model.model_fields) or "aucune"
        raise ConfigError(f"{owner} n'a pas d'option {', '.join(unknown)} ; options valides : {valid}")
    try:
        return model(**values)
    except ValidationError as exc:
        problems = " ; ".join(f"{'.'.join(map(str, e['loc']))} : {in_french(e)}" for e in exc.errors())
        raise ConfigError(f"options invalides pour {owner} : {problems}") from None


_FRENCH = {
    "greater_than_equal": "doit être supérieur ou égal à {ge}",
    "greater_than": "doit être strictement supérieur à {gt}",
    "less_than_equal": "doit être inférieur ou égal à {le}",
    "less_than": "doit être strictement inférieur à {lt}",
    "literal_error": "valeurs possibles : {expected}",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "float_parsing": "nombre attendu",
    "float_type": "nombre attendu",
    "bool_parsing": "oui ou non attendu (true, false, 1, 0)",
    "bool_type": "oui ou non attendu (true, false, 1, 0)",
    "string_type": "texte attendu",
    "path_type": "chemin de fichier attendu",
    "missing": "valeur obligatoire",
    "extra_forbidden": "option inconnue",
}
"""pydantic's error types, in French (others keep pydantic's English message)."""


def in_french(error: ErrorDetails) -> str:
    """What is wrong with one value, in French: our validators raise French
    ``ValueError`` messages, pydantic's own errors are translated by type."""
    context = dict(error.get("ctx") or {})
    if error["type"] == "value_error" and "error" in context:
        return str(context["error"])
    if error["type"] == "literal_error":
        context["expected"] = str(context.get("expected", "")).replace(" or ", " ou ")
    template = _FRENCH.get(error["type"])
    return template.format(**context) if template else error["msg"]


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _problem(error: ErrorDetails) -> str:
    """``RAG_TOP_K='-3' : doit être supérieur ou égal à 1 (valeurs acceptées : >= 1, <= 50)``:
    the setting, the value received, what is wrong and what is accepted."""
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    bounds = [f"{sign} {getattr(m, attr)}" for m in (field.metadata if field else [])
              for attr, sign in _BOUNDS if getattr(m, attr, None) is not None]
    valid = f" (valeurs acceptées : {', '.join(bounds)})" if bounds else ""
    value = f"={str(error['input'])[:60]!r}" if isinstance(error.get("input"), (str, int, float)) else ""
    return f"RAG_{'_'.join(map(str, error['loc'])).upper()}{value} : {in_french(error)}{valid}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own with :func:`load_settings`)."""
    return load_settings()
