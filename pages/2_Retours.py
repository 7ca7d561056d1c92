"""Retours page: the answers users rated 👎 and the questions answered « non couvert »,
for project leads (see :mod:`rag.ui.retours`)."""

from __future__ import annotations

import streamlit as st

from rag.ui.chat import guarded
from rag.ui.identity import is_lead, require_user
from rag.ui.retours import retours_page
from rag.ui.services import get_app_services


def page() -> None:
    st.set_page_config(page_title="Retours — Initiatives d'accueil")
    st.title("Retours des utilisateurs", anchor=False)
    user = require_user()
    services = get_app_services().services
    retours_page(services.conversations, user, is_lead(user), services.fiches,
                 services.settings.feedback_eval_path)


guarded(page, name="retours page")
