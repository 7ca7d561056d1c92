"""Untrusted text (fiches, LLM answers) as safe Markdown: for the chat page (Streamlit
Markdown) and for the conversation export (any Markdown viewer), so one set of rules.

Fiches come from a wiki and answers from a model: both may carry HTML (``<script>``,
``<img onerror=…>``), Markdown links to ``javascript:`` URLs or Streamlit directives
(``:red[…]``, ``$…$``). Corpus text goes through :func:`escape_markdown` (every
Markdown/HTML metacharacter backslash-escaped: it renders as literal text), answers through
:func:`safe_markdown` (formatting kept, no HTML, link, image, LaTeX or directive), and
links through :func:`safe_url` (only ``http(s)`` URLs become clickable). :func:`slug`
makes ASCII names from titles (fiche ids, exported file names).
No Streamlit here: it sits with ``rag.text`` in the lowest layer.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$&])")
"""Characters that are markup anywhere in a line (HTML, links, emphasis, code, LaTeX...)."""
_LINE_START = re.compile(r"^([ \t]*\d*)([-+=.)])", re.MULTILINE)
"""Block markers that only count at the start of a line (lists, setext underlines)."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DIRECTIVE = re.compile(r":(?=[A-Za-z][\w\\-]*(?:/[\w\\-]+:|\\?\[))")
"""The colon of a Streamlit directive (``:red[…]``, ``:material/home:``), matched after
the bracket was escaped: escaped too, or Streamlit would still eat ``:red``."""


def _clean(text: str) -> str:
    """Unix newlines and no control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def escape_markdown(text: str, *, line_breaks: bool = True) -> str:
    """``text`` as Markdown that renders literally: HTML tags and entities, links and
    images, emphasis, code, headings, lists, tables, LaTeX and Streamlit directives
    (``:red[…]``) are all neutralised, while ordinary punctuation stays readable in
    the source (exports are read as plain text too). Control characters are dropped.
    With ``line_breaks``, each newline becomes a hard break so the layout is kept."""
    escaped = _SPECIAL.sub(r"\\\1", _clean(text))
    escaped = _DIRECTIVE.sub(r"\\:", _LINE_START.sub(r"\1\\\2", escaped))
    return escaped.replace("\n", "  \n") if line_breaks else escaped


_ACTIVE = re.compile(r"([\\<>\[\]$&])")


def safe_markdown(text: str) -> str:
    """``text`` (an answer) as Markdown keeping its harmless formatting (bold, lists,
    headings, code) but with everything that can inject neutralised: HTML tags and
    entities (``<``, ``>``, ``&``), links and images (``[``, ``]``), LaTeX
    (``$``) and Streamlit directives (``:red[…]``, which need ``[``). Citations such as
    ``[1]`` therefore render literally. Safe on stream chunks (a directive split across
    two chunks only loses its colour, never its text to markup)."""
    return _DIRECTIVE.sub(r"\\:", _ACTIVE.sub(r"\\\1", _clean(text)))


def safe_url(url: str | None) -> str:
    """``url`` when it is an absolute ``http(s)`` URL with a host, else ``""`` (so a
    ``javascript:`` or ``data:`` link is never rendered as clickable)."""
    url = (url or "").strip()
    if _CONTROL.search(url) or any(ch.isspace() for ch in url):
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return url


def markdown_link(label: str, url: str | None) -> str:
    """A Markdown link ``[label](url)`` if ``url`` is safe, else the escaped label and
    the raw URL as inert text. Parentheses and brackets in the URL are percent-encoded
    so they cannot close the link early."""
    target = safe_url(url)
    if not target:
        shown = escape_markdown(label)
        return f"{shown} ({escape_markdown(url)})" if url and url != label else shown
    encoded = quote(target, safe=":/?#@!$&'*+,;=%~-._")
    return f"[{escape_markdown(label, line_breaks=False)}]({encoded})"


def slug(text: str, limit: int = 80) -> str:
    """``text`` as lowercase ASCII words joined by ``-``, at most ``limit`` characters:
    ``"Borne d'accueil mobile"`` -> ``"borne-d-accueil-mobile"`` (accents dropped, any
    other character a separator). ``""`` when no letter or digit is left. Safe as an id
    or a file name on every system."""
    text = text.replace("\u2019", "'")  # typographic apostrophe: a separator, as "'"
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-")
