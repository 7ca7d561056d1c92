"""Catalogue page: browse, search, charts and comparison of every fiche (see
:mod:`rag.ui.catalogue`)."""

from __future__ import annotations

import streamlit as st

from rag.ui.catalogue import catalogue_page
from rag.ui.chat import guarded
from rag.ui.services import get_app_services


def page() -> None:
    st.set_page_config(page_title="Catalogue — Initiatives d'accueil")
    st.title("Catalogue des initiatives", anchor=False)
    catalogue_page(list(get_app_services().services.fiches.values()))


guarded(page, name="catalogue page")
