"""Citations you click: every ``[n]`` of an answer becomes a link that opens passage ``n``
in the fiche viewer, with the sentence the answer rests on highlighted.

Streamlit runs no JavaScript of ours, so a citation is a plain Markdown link to the
conversation's own URL, ``?c=<conversation>&cite=<turn>-<n>``. Streamlit opens such a
link in a new tab (only ``#`` links stay in the page); that tab reopens the stored
conversation and :func:`rag.ui.chat.open_cited` opens the viewer on the cited passage. A turn
that could not be saved has no URL: its ``[n]`` stay plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from rag.answer.support import claim, sentences, terms
from rag.markdown import safe_markdown

CONVERSATION_PARAM = "c"
CITE_PARAM = "cite"
_ESCAPED_CITATION = re.compile(r"\\\[(\d{1,3})\\\]")
"""``[n]`` as :func:`safe_markdown` leaves it (brackets escaped)."""
_CITE_VALUE = re.compile(r"^([A-Za-z0-9]{1,64})-(\d{1,3})$")
_BULLET = re.compile(r"^\s*(?:[-•*]|\d+[.)])\s+")
"""A list marker before a fiche's sentence: not part of what is highlighted."""


def cite_href(conversation_id: str, turn_id: str, n: int) -> str:
    """The link of citation ``n`` of a stored turn (relative: the page's own URL)."""
    return f"?{CONVERSATION_PARAM}={quote(conversation_id)}&{CITE_PARAM}={quote(turn_id)}-{n}"


def parse_cite(value: str | None) -> tuple[str, int] | None:
    """``"<turn>-<n>"`` -> ``(turn id, n)``; ``None`` when malformed."""
    match = _CITE_VALUE.match(value or "")
    return (match[1], int(match[2])) if match else None


def linked_answer(text: str, cited: set[int], href: Callable[[int], str] | None) -> str:
    """The answer as safe Markdown (:func:`safe_markdown`) whose ``[n]`` (for ``n`` in
    ``cited``) are links to ``href(n)``; without ``href``, plain ``[n]``."""
    shown = safe_markdown(text)
    if href is None:
        return shown

    def link(match: re.Match[str]) -> str:
        n = int(match[1])
        if n not in cited:
            return match[0]
        return f'[\\[{n}\\]]({href(n)} "Ouvrir la source {n} dans la fiche")'

    return _ESCAPED_CITATION.sub(link, shown)


def cited_sentence(answer: str, n: int, passage: str) -> str | None:
    """The sentence of ``passage`` that the answer's sentences citing ``[n]`` rest on:
    the one sharing the most content words with them (an extractive answer quotes it
    word for word; an LLM paraphrases it). ``None`` when no sentence shares any."""
    claims: set[str] = set()
    for sentence in sentences(answer):
        if f"[{n}]" in sentence:
            claims |= terms(claim(sentence))
    if not claims:
        return None
    scored = [(len(claims & terms(candidate)), -i, _BULLET.sub("", candidate))
              for i, candidate in enumerate(sentences(passage))]
    best = max(scored, default=None)
    return best[2] if best and best[0] > 0 else None


def locate(sentence: str, text: str) -> tuple[int, int] | None:
    """Where ``sentence`` lies in ``text`` (blanks may differ), as ``(start, end)``."""
    words = sentence.split()
    if not words:
        return None
    match = re.search(r"\s+".join(map(re.escape, words)), text)
    return (match.start(), match.end()) if match else None
