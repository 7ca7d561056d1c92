"""Spam: the editable deny-list (``corpus/denylist.txt``: one pattern per line, ``#``
starts a comment, matched case-insensitively as a substring), the matching and masking
of spam URLs, and the guard that masks them in a streamed answer.

Used by the importer (cleaning a raw export) and by the answer path (a hand-edited
fiche, or a model that writes a spam URL, never shows one to a user).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'«»]*?(?=[.,;:!?)]*(?:[\s<>\"'«»]|$))", re.IGNORECASE)
"""A URL as written in free text (scheme or ``www.`` prefix, up to the next blank;
final punctuation such as ``.`` or ``,`` is not part of it)."""

DOMAIN_RE = re.compile(
    r"(?:[\w.+-]+@)?\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:/[^\s<>\"'«»]*?)?(?=[.,;:!?)]*(?:[\s<>\"'«»]|$))",
    re.IGNORECASE,
)
"""A bare domain or e-mail address such as ``floodcrm.email/offre`` (no scheme)."""

SPAM_MASK = "[lien retiré]"
"""What :func:`mask_spam` puts in place of a spam URL."""


def load_denylist(path: Path | str) -> list[str]:
    """The patterns of a deny-list file (comments and blank lines skipped, lowercased).

    A missing file gives an empty list: the caller decides whether to warn.
    """
    path = Path(path)
    if not path.is_file():
        return []
    patterns = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        pattern = raw.split("#", 1)[0].strip().casefold()
        if pattern:
            patterns.append(pattern)
    return patterns


def is_spam(text: str, patterns: Sequence[str]) -> bool:
    """True when ``text`` contains one of the deny-list patterns (case-insensitive)."""
    folded = text.casefold()
    return any(pattern in folded for pattern in patterns)


def mask_spam(text: str, patterns: Sequence[str], mask: str = SPAM_MASK) -> str:
    """``text`` with every URL or bare domain matching the deny-list replaced by ``mask``.

    Used on generated answers too, so a spam link can never be shown to a user.
    """
    if not patterns:
        return text

    def _mask(match: re.Match[str]) -> str:
        return mask if is_spam(match.group(0), patterns) else match.group(0)

    return DOMAIN_RE.sub(_mask, URL_RE.sub(_mask, text))


_LINK_STARTS = ("http://", "https://", "www.")

LinkGuard = tuple[Callable[[str], str], Callable[[str], bool]]
"""What :func:`link_guard` returns: the mask for released text, the hold test for a word."""


def link_guard(patterns: list[str]) -> LinkGuard:
    """For :class:`rag.answer.citations.CitationStream`: mask URLs matching the deny-list
    ``patterns`` (see :func:`load_denylist`) in released text, and hold back an unfinished word
    that may still become one (URL-like, or ending with the start of a pattern). Without
    patterns, nothing is masked or held."""
    if not patterns:
        return (lambda text: text), (lambda word: False)

    def hold(word: str) -> bool:
        folded = word.casefold().rstrip(".,;:!?)»\"'")
        if not folded:
            return False
        if any(start.startswith(folded) or folded.startswith(start) for start in _LINK_STARTS):
            return True
        if any(mark in folded for mark in ".:/@"):
            return True
        return any(p.startswith(folded[-i:]) for p in patterns for i in range(1, min(len(p), len(folded)) + 1))

    return (lambda text: mask_spam(text, patterns)), hold
