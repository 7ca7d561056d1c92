"""Bearer keys for the API, and the loopback rule of ``python -m rag serve``.

Keys come from ``RAG_API_KEYS`` (comma-separated) and/or ``RAG_API_KEYS_FILE`` (one per
line, ``#`` comments). With no key configured the API is open, which ``serve`` allows
only on a loopback address unless ``--insecure`` is given. A key is compared in
constant time against every configured key, and never logged nor echoed back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.api.errors import ApiError
from rag.config import Settings
from rag.conversations import LOCAL_USER
from rag.errors import ConfigError


def load_keys(settings: Settings) -> tuple[str, ...]:
    """The configured keys (empty: no authentication)."""
    raw = settings.api_keys.get_secret_value() if settings.api_keys is not None else ""
    keys = [key.strip() for key in raw.split(",")]
    path = settings.api_keys_file
    if path is not None:
        try:
            text = path.expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"RAG_API_KEYS_FILE illisible ({path}: {reason})") from None
        keys += [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return tuple(key for key in keys if key)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, keys: tuple[str, ...], insecure: bool) -> None:
    """Refuse to serve an open API beyond this machine (``ConfigError``, French)."""
    if not keys and not is_loopback(host) and not insecure:
        raise ConfigError(
            f"refus d'écouter sur {host} sans clé d'API : définissez RAG_API_KEYS (ou RAG_API_KEYS_FILE), "
            "écoutez sur 127.0.0.1, ou ajoutez --insecure si le réseau est de confiance"
        )


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every key (no early exit)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


_bearer = HTTPBearer(auto_error=False, description="clé d'API (RAG_API_KEYS), si le serveur en a")


async def require_key(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """FastAPI dependency of the /v1 routes: 401 unless the bearer key is one of ours.
    Sets ``request.state.user_id``, the owner of stored conversations: one user per key
    (a digest of it), the desktop's local user when the API is open."""
    keys: tuple[str, ...] = request.app.state.api_keys
    if not keys:
        request.state.user_id = LOCAL_USER
        return
    if credentials is None or not key_matches(credentials.credentials, keys):
        message = ("clé d'API manquante : ajoutez l'en-tête « Authorization: Bearer <clé> »" if credentials is None
                   else "clé d'API invalide")
        raise ApiError(401, message, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    request.state.user_id = "api-key:" + hashlib.sha256(credentials.credentials.encode()).hexdigest()[:32]
