"""Line-level cleaning of raw exports: spam, empty links and exact repeats.

Cleaning never rewrites what the authors wrote: it only drops whole lines (or a spam
or empty URL inside a line) and counts every removal by kind, so the import summary can
say exactly what went away. Kinds: ``spam_line``, ``spam_url``, ``empty_link``,
``repeated_line`` (plus ``doubled_title`` and ``repeated_fiche``, counted by the importer).

Spam is what the deny-list of :mod:`rag.catalogue.spam` says it is.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from rag.catalogue.spam import is_spam, mask_spam

EMPTY_LINK_RE = re.compile(r"(?<!\S)(?:https?://|www\.)/?(?=\s|$)", re.IGNORECASE)
"""A link with nothing after its scheme: ``http://``, ``https://``, ``www.``."""


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
