"""Line-level cleaning of raw exports: spam, empty links and exact repeats.

Cleaning never rewrites what the authors wrote: it only drops whole lines (or a spam
or empty URL inside a line) and counts every removal by kind, so the import summary can
say exactly what went away. Kinds: ``spam_line``, ``spam_url``, ``empty_link``,
``repeated_line`` (plus ``doubled_title`` and ``repeated_fiche``, counted by the importer).

The deny-list is a plain data file (``corpus/denylist.txt``): one pattern per line,
``#`` starts a comment, matched case-insensitively as a substring.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"'«»]*?(?=[.,;:!?)]*(?:[\s<>\"'«»]|$))", re.IGNORECASE)
"""A URL as written in free text (scheme or ``www.`` prefix, up to the next blank;
final punctuation such as ``.`` or ``,`` is not part of it)."""

DOMAIN_RE = re.compile(
    r"(?:[\w.+-]+@)?\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}(?:/[^\s<>\"'«»]*?)?(?=[.,;:!?)]*(?:[\s<>\"'«»]|$))",
    re.IGNORECASE,
)
"""A bare domain or e-mail address such as ``floodcrm.email/offre`` (no scheme)."""

EMPTY_LINK_RE = re.compile(r"(?<!\S)(?:https?://|www\.)/?(?=\s|$)", re.IGNORECASE)
"""A link with nothing after its scheme: ``http://``, ``https://``, ``www.``."""

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


def _tidy(text: str) -> str:
    """Collapse the blanks left where a URL was cut out; keep everything else as written."""
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def clean_line(text: str, patterns: Sequence[str], removed: Counter[str]) -> str | None:
    """One export line without its empty links and spam URLs, or ``None`` to drop it.

    A line holding a deny-listed word outside any URL is spam as a whole (``FloodCRM``).
    Counts go to ``removed``.
    """
    kept = EMPTY_LINK_RE.sub("", text)
    if kept != text:
        removed["empty_link"] += 1
        if not kept.strip(" \t:;,.-–()[]"):
            return None
        kept = _tidy(kept)
    masked = mask_spam(kept, patterns, mask="")
    if masked != kept:
        removed["spam_url"] += 1
        if not masked.strip(" \t:;,.-–()[]"):
            return None
        kept = _tidy(masked)
    if is_spam(kept, patterns):
        removed["spam_line"] += 1
        return None
    return kept


def dedup_lines(lines: Iterable[str], removed: Counter[str]) -> list[str]:
    """The lines without exact repeats, first occurrence kept, order unchanged.

    The export doubles single lines and whole runs of lines (paragraphs, lists);
    dropping any line already seen in the same section or field removes both.
    Each dropped line counts as ``repeated_line``; each maximal run of two or more
    consecutive dropped lines also counts once as ``repeated_run``.
    """
    seen: set[str] = set()
    kept: list[str] = []
    run = 0
    for line in lines:
        if line in seen:
            removed["repeated_line"] += 1
            run += 1
            continue
        if run >= 2:
            removed["repeated_run"] += 1
        run = 0
        seen.add(line)
        kept.append(line)
    if run >= 2:
        removed["repeated_run"] += 1
    return kept
