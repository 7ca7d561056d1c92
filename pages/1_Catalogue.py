"""Catalogue page: browse and search every fiche, charts of the catalogue, and a
side-by-side comparison of 2–4 fiches aligned by section.

Corpus text is rendered escaped (``rag.ui.rendering``); nothing uses ``unsafe_allow_html``.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from rag.catalogue.fiche import ECHELLE, SECTIONS, TYPE_ACTEUR, VILLE, Fiche
from rag.text import fold_spaced
from rag.ui.chat import guarded
from rag.ui.rendering import escape_markdown
from rag.ui.services import get_app_services
from rag.ui.sources import metadata_markdown, render_fiche

CHARTS = ((ECHELLE, "Par échelle d'action"), (TYPE_ACTEUR, "Par type d'acteur"), (VILLE, "Par ville"))
TOP = 15


def matches(fiche: Fiche, query: str) -> bool:
    """Does the fiche contain every word of ``query`` (case- and accent-insensitive)?"""
    haystack = fold_spaced(" ".join([fiche.title, *fiche.sections.values(),
                              *(v for field in fiche.metadata for v in fiche.values(field))]))
    return all(word in haystack for word in fold_spaced(query).split())


def counts(fiches: list[Fiche], field: str) -> pd.DataFrame:
    """Number of fiches per value of ``field`` (top values), for ``st.bar_chart``."""
    counter = Counter(v.strip() for f in fiches for v in f.values(field) if v.strip())
    top = counter.most_common(TOP)
    return pd.DataFrame({"valeur": [v for v, _ in top], "fiches": [n for _, n in top]})


def charts(fiches: list[Fiche]) -> None:
    """Three bar charts: échelle, type d'acteur, ville."""
    for column, (field, title) in zip(st.columns(len(CHARTS)), CHARTS, strict=True):
        with column:
            st.markdown(f"**{title}**")
            data = counts(fiches, field)
            if data.empty:
                st.caption("Aucune valeur renseignée.")
            else:
                st.bar_chart(data, x="valeur", y="fiches", horizontal=True, height=260)


def browse(fiches: list[Fiche]) -> None:
    """Search box, then one expander per matching fiche with the whole fiche inside."""
    query = st.text_input("Rechercher dans les fiches", placeholder="mot-clé, ville, acteur…")
    found = [f for f in fiches if matches(f, query)] if query.strip() else fiches
    st.caption(f"{len(found)} fiche(s) sur {len(fiches)}")
    for fiche in found:
        with st.expander(escape_markdown(fiche.title, line_breaks=False)):
            render_fiche(fiche)


def compare(fiches: list[Fiche]) -> None:
    """Pick 2–4 fiches; show their metadata then each section side by side."""
    by_id = {f.id: f for f in fiches}
    chosen = st.multiselect("Fiches à comparer (2 à 4)", list(by_id), max_selections=4,
                            format_func=lambda fid: by_id[fid].title, key="compare")
    if len(chosen) < 2:
        st.caption("Choisissez au moins deux fiches.")
        return
    picked = [by_id[fid] for fid in chosen]
    for column, fiche in zip(st.columns(len(picked)), picked, strict=True):
        column.markdown(f"### {escape_markdown(fiche.title, line_breaks=False)}")
        column.markdown("\n".join(metadata_markdown(fiche)) or "—")
    names = list(SECTIONS) + sorted({s for f in picked for s in f.sections} - set(SECTIONS))
    for name in names:
        if not any(name in f.sections for f in picked):
            continue
        st.markdown(f"#### {escape_markdown(name, line_breaks=False)}")
        for column, fiche in zip(st.columns(len(picked)), picked, strict=True):
            with column.container(border=True):
                st.markdown(escape_markdown(fiche.sections.get(name, "—")))


def catalogue_page() -> None:
    """The page: tabs for browsing, charts and comparison."""
    st.title("Catalogue des initiatives")
    fiches = sorted(get_app_services().services.fiches.values(), key=lambda f: fold_spaced(f.title))
    if not fiches:
        st.warning("Le catalogue est vide : importez des fiches (`python -m rag import`).")
        return
    tab_browse, tab_charts, tab_compare = st.tabs(["Parcourir", "Statistiques", "Comparer"])
    with tab_browse:
        browse(fiches)
    with tab_charts:
        charts(fiches)
    with tab_compare:
        compare(fiches)


guarded(catalogue_page, name="catalogue page")
