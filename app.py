"""Streamlit app: a chat over the catalogue of public-service reception initiatives.

Run with ``streamlit run app.py``. This file only renders: answers come from
``rag.answer.pipeline.ask`` and long-lived objects (store, embedder, backends) from
``rag.ui.services`` (``st.cache_resource``). Pages are declared with ``st.navigation``:
the chat (below) and ``pages/1_Catalogue.py``.
"""

from __future__ import annotations

import streamlit as st

from rag.ui.chat import PENDING_KEY, answer_live, guarded, render_turn
from rag.ui.services import ensure_ready, get_app_services
from rag.ui.sidebar import render_export, render_sidebar
from rag.ui.state import history, turns

EXAMPLES = (
    "Comment améliorer l'accueil en mairie ?",
    "Quelles initiatives accompagnent les usagers vers le numérique ?",
    "Qui a travaillé avec des designers de service ?",
)


def _ask_example() -> None:
    """Callback: an example chip was clicked -> ask it."""
    question = st.session_state.get("example")
    if question:
        st.session_state[PENDING_KEY] = {"question": question, "keep": None, "replace": None}


def _welcome() -> None:
    """The empty state: what the assistant does, and example questions."""
    st.markdown(
        "Posez une question sur les initiatives d'accueil du service public : chaque réponse "
        "cite ses sources **[n]**, que vous pouvez ouvrir pour lire la fiche complète."
    )
    st.pills("Exemples", EXAMPLES, key="example", on_change=_ask_example)


def _next_question() -> dict | None:
    """The question to answer in this run: typed, an example, or re-asked without some
    inferred filters (``keep``: the inferred filters kept; ``replace``: the turn it replaces)."""
    typed = st.chat_input("Posez votre question sur les initiatives…", max_chars=2000)
    pending = st.session_state.pop(PENDING_KEY, None)
    if typed is not None:
        return {"question": typed, "keep": None, "replace": None}
    return pending


def chat_page() -> None:
    """The chat: sidebar, past turns, then the new question's live answer."""
    st.title("Assistant des initiatives d'accueil")
    services = ensure_ready(get_app_services())
    fiches = services.fiches
    options = render_sidebar(services.settings, list(fiches.values()))
    session_turns = turns(st.session_state)
    nxt = _next_question()
    if nxt and nxt["replace"]:  # re-asked without some inferred filters: replaces its turn
        session_turns[:] = [t for t in session_turns if t.id != nxt["replace"]]
    if not session_turns and not nxt:
        _welcome()
    for turn in session_turns:
        render_turn(turn, fiches, services.settings)
    if nxt:
        turn = answer_live(nxt["question"], services, options, history(st.session_state), nxt["keep"])
        session_turns.append(turn)
    render_export(options)


def assistant() -> None:
    """The chat page, guarded."""
    guarded(chat_page, icon=":material/error:")


st.set_page_config(page_title="Initiatives d'accueil — assistant", page_icon="💬", layout="wide")
navigation = st.navigation([
    st.Page(assistant, title="Assistant", icon=":material/chat:", default=True),
    st.Page("pages/1_Catalogue.py", title="Catalogue", icon=":material/menu_book:"),
])
navigation.run()
