"""Source cards and the full-fiche viewer (shared by the chat, the Retours and the
catalogue pages).

Every piece of corpus text goes through :func:`rag.markdown.escape_markdown`; links
through :func:`rag.markdown.markdown_link` (http(s) only). Nothing here uses
``unsafe_allow_html``. Card titles and fiche sections are real headings (``###``, level
given by the caller) so a screen reader can jump between them.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from rag.catalogue.fiche import LIEN, METADATA_FIELDS, Fiche
from rag.index.chunking import METADATA_SECTION
from rag.markdown import escape_markdown, markdown_link
from rag.text import excerpt
from rag.types import Source
from rag.ui.citing import cited_sentence, locate

EXCERPT_CHARS = 260
HIGHLIGHT = "orange-background"
"""Streamlit's Markdown background colour for the cited sentence (bold too: colour is
never the only cue)."""


def facts_line(source: Source) -> str:
    """``Ville · Échelle · Acteur`` (plain text, empty parts skipped)."""
    labels = (("Ville", source.ville), ("Échelle", source.echelle), ("Acteur", source.acteur))
    return " · ".join(f"{label} : {value}" for label, value in labels if value)


def heading(level: int, text: str) -> None:
    """A real ``<hN>`` heading of escaped text, without Streamlit's anchor link."""
    st.markdown(f"{'#' * level} {escape_markdown(text, line_breaks=False)}", anchors=False)


def source_card(source: Source, fiches: Mapping[str, Fiche], *, key: str, level: int = 3,
                answer: str | None = None) -> None:
    """One bordered card: title (a heading), facts, excerpt, link, and a button opening
    the fiche (with the sentence ``answer`` cites highlighted, found only when clicked)."""
    with st.container(border=True, key=f"card_{key}"):
        heading(level, source.heading)
        facts = facts_line(source)
        if facts:
            st.caption(escape_markdown(facts, line_breaks=False))
        st.markdown(escape_markdown(excerpt(source.text, EXCERPT_CHARS)))
        left, right = st.columns([1, 2])
        if source.fiche_id in fiches:
            if left.button("Voir la fiche", key=f"open_{key}", icon=":material/description:"):
                open_passage(source, fiches[source.fiche_id], answer)
        if source.url:
            right.markdown(markdown_link("Site de l'initiative", source.url))


def metadata_markdown(fiche: Fiche) -> list[str]:
    """One escaped Markdown line per filled metadata field (the web link as a safe link)."""
    lines = []
    for field in METADATA_FIELDS:
        values = fiche.values(field)
        if not values:
            continue
        label = escape_markdown(field, line_breaks=False)
        if field == LIEN:
            shown = ", ".join(markdown_link(v, v) for v in values)
        else:
            shown = escape_markdown(", ".join(values), line_breaks=False)
        lines.append(f"- **{label}** : {shown}")
    return lines


def highlighted(text: str, sentence: str | None) -> str | None:
    """``text`` as escaped Markdown with ``sentence`` highlighted (background and bold),
    or ``None`` when the sentence is not in it."""
    where = locate(sentence, text) if sentence else None
    if where is None:
        return None
    start, end = where
    mark = f":{HIGHLIGHT}[**{escape_markdown(text[start:end], line_breaks=False)}**]"
    return escape_markdown(text[:start]) + mark + escape_markdown(text[end:])


def render_fiche(fiche: Fiche, cited_section: str | None = None, sentence: str | None = None,
                 *, level: int = 2) -> None:
    """The whole fiche: title (heading ``level``), metadata, then every section (one
    level down); the cited section is boxed, and in it the cited ``sentence`` marked."""
    heading(level, fiche.title)
    meta = "\n".join(metadata_markdown(fiche))
    if meta:
        if cited_section == METADATA_SECTION:
            st.info("▶ Section citée : informations de la fiche\n\n" + meta)
        else:
            st.markdown(meta)
    for name, text in fiche.sections.items():
        if name != cited_section:
            heading(level + 1, name)
            st.markdown(escape_markdown(text))
            continue
        heading(level + 1, f"▶ {name} — section citée")
        marked = highlighted(text, sentence)
        if marked is not None:
            st.caption("Phrase citée surlignée.")
        st.info(marked or escape_markdown(text))


def open_passage(source: Source, fiche: Fiche, answer: str | None) -> None:
    """The viewer on ``fiche`` (``source``'s), at its passage's section, with the sentence
    ``answer`` cites from it highlighted: found here, when asked (a card's button, a
    clicked ``[n]``), not on every rerun."""
    sentence = cited_sentence(answer, source.n, source.text) if answer and source.cited else None
    fiche_dialog(fiche, source.section, sentence)


@st.dialog("Fiche complète", width="large")
def fiche_dialog(fiche: Fiche, cited_section: str | None = None, sentence: str | None = None) -> None:
    """The full fiche in a modal dialog (a card's button, or a clicked ``[n]``). Its own
    heading outline starts at level 1: Streamlit shows a dialog's headings at 65 %."""
    render_fiche(fiche, cited_section, sentence, level=1)
