"""Source cards and the full-fiche viewer (shared by the chat and the catalogue page).

Every piece of corpus text goes through :func:`rag.ui.rendering.escape_markdown`; links
through :func:`rag.ui.rendering.markdown_link` (http(s) only). Nothing here uses
``unsafe_allow_html``.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from rag.catalogue.fiche import LIEN, METADATA_FIELDS, Fiche
from rag.index.chunking import METADATA_SECTION
from rag.ui.rendering import escape_markdown, markdown_link

EXCERPT_CHARS = 260


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of ``text``, cut at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def facts_line(source: Any) -> str:
    """``Ville · Échelle · Acteur`` (plain text, empty parts skipped)."""
    labels = (("Ville", source.ville), ("Échelle", source.echelle), ("Acteur", source.acteur))
    return " · ".join(f"{label} : {value}" for label, value in labels if value)


def source_card(source: Any, fiches: dict[str, Fiche], *, key: str, openable: bool = True) -> None:
    """One bordered card: title, facts, excerpt, link, and a button opening the fiche."""
    with st.container(border=True, key=f"card_{key}"):
        st.markdown(f"**{escape_markdown(source.heading, line_breaks=False)}**")
        facts = facts_line(source)
        if facts:
            st.caption(escape_markdown(facts, line_breaks=False))
        st.markdown(escape_markdown(excerpt(source.text)))
        left, right = st.columns([1, 2])
        if openable and source.fiche_id in fiches:
            if left.button("Voir la fiche", key=f"open_{key}", icon=":material/description:"):
                fiche_dialog(fiches[source.fiche_id], source.section)
        if getattr(source, "url", ""):
            right.markdown(markdown_link("Site de l'initiative", source.url))


def source_cards(sources: list[Any], fiches: dict[str, Fiche], *, key: str, openable: bool = True) -> None:
    """Cards for ``sources`` in their given order."""
    for source in sources:
        source_card(source, fiches, key=f"{key}_{source.n}", openable=openable)


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


def render_fiche(fiche: Fiche, cited_section: str | None = None) -> None:
    """The whole fiche: title, metadata, then every section in order; the cited section
    (or the metadata block, when the metadata chunk was cited) is highlighted."""
    st.markdown(f"### {escape_markdown(fiche.title, line_breaks=False)}")
    meta = "\n".join(metadata_markdown(fiche))
    if meta:
        if cited_section == METADATA_SECTION:
            st.info("▶ Section citée : informations de la fiche\n\n" + meta)
        else:
            st.markdown(meta)
    for name, text in fiche.sections.items():
        heading = escape_markdown(name, line_breaks=False)
        if name == cited_section:
            st.markdown(f"#### ▶ {heading} — section citée")
            st.info(escape_markdown(text))
        else:
            st.markdown(f"#### {heading}")
            st.markdown(escape_markdown(text))


@st.dialog("Fiche complète", width="large")
def fiche_dialog(fiche: Fiche, cited_section: str | None = None) -> None:
    """The full fiche in a modal dialog (opened from a source card)."""
    render_fiche(fiche, cited_section)
