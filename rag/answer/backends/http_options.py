"""The options every HTTP backend shares, filled from the settings by ``create_backend``.

The options that mirror a setting take the setting's default (:data:`rag.config.LLM_DEFAULTS`),
so a default is defined once. The bounds stay wider here where a caller may ask less
than a setting allows (an API client's ``max_tokens``, a small server's window).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from rag.config import LLM_DEFAULTS


class HttpOptions(BaseModel):
    """Options shared by HTTP backends (filled from the settings by ``create_backend``)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    model: str | None = None  # None: use the server's only model (see ``resolve_model``)
    temperature: float = Field(LLM_DEFAULTS.temperature, ge=0.0, le=2.0)
    max_tokens: int = Field(LLM_DEFAULTS.max_tokens, ge=1)
    context_window: int | None = Field(None, ge=256)  # None: ask the server (see window.py)
    connect_timeout: float = Field(LLM_DEFAULTS.connect_timeout, gt=0)
    read_timeout: float = Field(LLM_DEFAULTS.read_timeout, gt=0)
    max_retries: int = Field(LLM_DEFAULTS.max_retries, ge=0, le=10)
    retry_backoff: float = Field(0.5, ge=0.0, description="first retry delay, doubled each time")
    api_key: SecretStr | None = None
    api_key_env: str = LLM_DEFAULTS.api_key_env

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("doit commencer par http:// ou https://")
        return value

    def secret(self) -> str | None:
        """The API key in clear (to send it, or to scrub it from a text), ``None`` if unset."""
        return self.api_key.get_secret_value() if self.api_key is not None else None
