"""The Catalogue page: browse and search every fiche, charts of the catalogue (each
followed by its data as a table, for screen readers), and a side-by-side comparison of
2–4 fiches aligned by section (``pages/1_Catalogue.py`` only calls :func:`catalogue_page`).

Corpus text is rendered escaped (``rag.markdown``); nothing uses ``unsafe_allow_html``.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd
import streamlit as st

from rag.catalogue.catalogue import fiche_matches
from rag.catalogue.fiche import COMMUNE, ECHELLE, REGION, SECTIONS, TYPE_ACTEUR, Fiche
from rag.markdown import escape_markdown
from rag.text import fold_spaced
from rag.ui.sources import heading, metadata_markdown, render_fiche

CHARTS = ((REGION, "Par région"), (ECHELLE, "Par échelle d'action"), (TYPE_ACTEUR, "Par type d'acteur"),
          (COMMUNE, "Par commune"))
"""The charts: the commune, not the raw « Ville » field (« 106 rue Pierre Corneille, Lyon », « vendée »)."""
TOP = 15
"""Values shown per chart."""
BAR_PX, AXES_PX = 28, 70  # a chart's height: per bar (Vega drops a label overlapping its neighbour), axes
KEPT = "_kept_"  # session-key prefix of the copies of this page's widget values (see restored)


def restored(key: str) -> str:
    """``key``, its widget value put back from the copy :func:`keep` made: Streamlit drops
    a widget's value when a run (another page) does not draw it, so a search or a
    comparison was lost after a visit to the Assistant."""
    if key not in st.session_state and KEPT + key in st.session_state:
        st.session_state[key] = st.session_state[KEPT + key]
    return key


def keep(key: str, value: object) -> None:
    st.session_state[KEPT + key] = value


def counts(fiches: list[Fiche], field: str) -> pd.DataFrame:
    """Number of fiches per value of ``field`` (top values), for ``st.bar_chart``."""
    counter = Counter(v.strip() for f in fiches for v in f.values(field) if v.strip())
    top = counter.most_common(TOP)
    return pd.DataFrame({"valeur": [v for v, _ in top], "fiches": [n for _, n in top]})


def chart(fiches: list[Fiche], field: str, title: str) -> None:
    """One bar chart under a heading, then the same numbers as a table."""
    heading(2, title)
    data = counts(fiches, field)
    if data.empty:
        st.caption("Aucune valeur renseignée.")
        return
    summary = ", ".join(f"{v} : {n}" for v, n in zip(data["valeur"], data["fiches"], strict=True))
    st.bar_chart(data, x="valeur", y="fiches", horizontal=True, sort="-fiches",
                 height=max(150, BAR_PX * len(data) + AXES_PX), alt=f"Nombre de fiches {title.lower()} : {summary}")
    with st.expander(f"Données du graphique « {title} »"):
        st.table(data.rename(columns={"valeur": "Valeur", "fiches": "Fiches"}).set_index("Valeur"))


def charts(fiches: list[Fiche]) -> None:
    """Bar charts by région, échelle, type d'acteur and commune, two per row."""
    for row in range(0, len(CHARTS), 2):
        for column, (field, title) in zip(st.columns(2), CHARTS[row:row + 2], strict=False):
            with column:
                chart(fiches, field, title)


def browse(fiches: list[Fiche]) -> None:
    """Search box, then one expander per matching fiche with the whole fiche inside."""
    query = st.text_input("Rechercher dans les fiches", placeholder="mot-clé, commune, n° de département, acteur…",
                          key=restored("catalogue_search"))
    keep("catalogue_search", query)
    found = [f for f in fiches if fiche_matches(f, query)] if query.strip() else fiches
    st.caption(f"{len(found)} fiche(s) sur {len(fiches)}")
    for fiche in found:
        with st.expander(escape_markdown(fiche.title, line_breaks=False)):
            render_fiche(fiche, level=2)


def compare(fiches: list[Fiche]) -> None:
    """Pick 2–4 fiches; show their metadata then each section side by side, each box
    naming its fiche (on a phone the columns stack)."""
    by_id = {f.id: f for f in fiches}
    chosen = st.multiselect("Fiches à comparer (2 à 4)", list(by_id), max_selections=4,
                            format_func=lambda fid: by_id[fid].title, key=restored("compare"))
    keep("compare", chosen)
    if len(chosen) < 2:
        st.caption("Choisissez au moins deux fiches.")
        return
    picked = [by_id[fid] for fid in chosen]
    for column, fiche in zip(st.columns(len(picked)), picked, strict=True):
        with column:
            heading(2, fiche.title)
        column.markdown("\n".join(metadata_markdown(fiche)) or "—")
    names = list(SECTIONS) + sorted({s for f in picked for s in f.sections} - set(SECTIONS))
    for name in names:
        if not any(name in f.sections for f in picked):
            continue
        heading(3, name)
        for column, fiche in zip(st.columns(len(picked)), picked, strict=True):
            with column.container(border=True):
                st.caption(escape_markdown(fiche.title, line_breaks=False))
                st.markdown(escape_markdown(fiche.sections.get(name, "—")))


def catalogue_page(catalogue: list[Fiche]) -> None:
    """The page's body: tabs for browsing, charts and comparison of ``catalogue``."""
    fiches = sorted(catalogue, key=lambda f: fold_spaced(f.title))
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
