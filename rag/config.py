"""Settings: one pydantic-settings object read from env vars (prefix ``RAG_``), ``.env``
and an optional TOML file (``RAG_CONFIG_FILE``, default ``rag.toml`` if present).

Secrets are never settings themselves: ``llm_api_key_env`` names the environment
variable holding the key, and :meth:`Settings.api_key` reads it on demand, so a key
cannot end up in a log line, an export or ``repr(settings)``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
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
    llm_api_key_env: str = "RAG_LLM_API_KEY"
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    max_tokens: int = Field(700, ge=16)
    context_window: int | None = Field(None, ge=512, description="tokens; unset: asked to the server, else 8192")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(120.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)

    abstain_threshold: float = Field(0.0, description="calibrated on the dev set; see rag.answer.pipeline")

    api_keys: SecretStr | None = Field(None, description="bearer keys of `python -m rag serve`, comma-separated")
    api_keys_file: Path | None = Field(None, description="a file of bearer keys, one per line (# comments)")

    @field_validator("corpus_dir", "data_dir", "denylist_path", "places_path", "synonyms_path", "prompts_dir",
                     "embedder_model_path")
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
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from None


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _problem(error: ErrorDetails) -> str:
    """``RAG_TOP_K='-3': <pydantic's message> (valid: >= 1, <= 50)``: the setting, the value
    received and what is accepted (pydantic's message already lists a Literal's values)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Settings.model_fields.get(name)
    bounds = [f"{sign} {getattr(m, attr)}" for m in (field.metadata if field else [])
              for attr, sign in _BOUNDS if getattr(m, attr, None) is not None]
    valid = f" (valid: {', '.join(bounds)})" if bounds else ""
    value = f"={str(error['input'])[:60]!r}" if isinstance(error.get("input"), (str, int, float)) else ""
    return f"RAG_{'_'.join(map(str, error['loc'])).upper()}{value}: {error['msg']}{valid}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own with :func:`load_settings`)."""
    return load_settings()
