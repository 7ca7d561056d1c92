"""rag.markdown: untrusted text as Markdown that renders literally (corpus text), keeps
only harmless formatting (answers), and links only http(s) URLs."""

from __future__ import annotations

import pytest

from rag.markdown import escape_markdown, markdown_link, safe_markdown, safe_url, slug
from tests.support.ui_fixtures import unescape, unescaped_markup

HOSTILE = "<script>x</script> [a](javascript:y) ![i](z) :red[r] $x$ &amp; *e* `c`\n# titre\n- liste\r\nfin\x00"


def test_escape_markdown_renders_everything_literally() -> None:
    escaped = escape_markdown(HOSTILE)
    assert not unescaped_markup(escaped) and "\\:red" in escaped and "\\*e\\*" in escaped
    assert "\\# titre  \n\\- liste  \nfin" in escaped  # block markers escaped, newlines kept as hard breaks
    assert unescape(escaped).replace("  \n", "\n") == HOSTILE.replace("\r\n", "\n").replace("\x00", "")
    assert escape_markdown("a\nb", line_breaks=False) == "a\nb"


def test_safe_markdown_keeps_formatting_but_no_html_link_latex_or_directive() -> None:
    safe = safe_markdown(HOSTILE + " **gras** [1]")
    assert not unescaped_markup(safe) and "\\:red" in safe and "\\$x\\$" in safe and "\\&amp;" in safe
    assert "*e*" in safe and "**gras**" in safe and "# titre" in safe and "\\[1\\]" in safe


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//h.fr/p", "https:///p",
                                 "https://h.fr/a b", "https://h.fr/\x07", "", None])
def test_only_http_urls_become_links(url: str | None) -> None:
    assert safe_url(url) == ""
    assert not unescaped_markup(markdown_link("site", url))


def test_http_links_are_kept_with_brackets_encoded() -> None:
    assert safe_url(" https://h.fr/p ") == "https://h.fr/p"
    assert markdown_link("le [site]", "https://h.fr/a(b)[c]") == "[le \\[site\\]](https://h.fr/a%28b%29%5Bc%5D)"
    assert markdown_link("x", "javascript:y") == "x (javascript:y)"


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("Borne d’accueil mobile", 80, "borne-d-accueil-mobile"),  # typographic apostrophe, accents
    ("  Équipe « Café » / Nantes… ", 80, "equipe-cafe-nantes"),
    ("un titre assez long pour être coupé", 15, "un-titre-assez"),  # no trailing "-" once cut
    ("«  » ? 😀", 80, ""),  # nothing left: the caller chooses its fallback
])
def test_slug_is_ascii_words_joined_by_hyphens(text: str, limit: int, expected: str) -> None:
    assert slug(text, limit) == expected
