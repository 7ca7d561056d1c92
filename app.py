"""Streamlit app: a chat over the catalogue of public-service reception initiatives.

Run with ``make run`` (``streamlit run app.py``). This file only renders: answers come
from ``rag.answer.pipeline.ask``, long-lived objects (store, embedder, backends, the
conversations database) from ``rag.ui.services`` (``st.cache_resource``). Pages are
declared with ``st.navigation``: the chat (below), ``pages/1_Catalogue.py`` and
``pages/2_Retours.py``. The open conversation is in the URL (``?c=<id>``).
"""

from __future__ import annotations

import streamlit as st

from rag.markdown import escape_markdown
from rag.ui.chat import PENDING_KEY, answer_live, blank_question, guarded, open_cited, render_turn
from rag.ui.conversations import Storage, conversation_list, open_conversation
from rag.ui.identity import account_box, require_user
from rag.ui.services import ensure_ready, get_app_services
from rag.ui.sidebar import render_export, render_settings, render_window
from rag.ui.state import Pending, chat_state

EXAMPLES = (
    "Comment améliorer l'accueil en mairie ?",
    "Quelles initiatives accompagnent les usagers vers le numérique ?",
    "Qui a travaillé avec des designers de service ?",
)


def _ask_example() -> None:
    """Callback: an example chip was clicked -> ask it."""
    question = st.session_state.get("example")
    if question:
        st.session_state[PENDING_KEY] = Pending(question)
        st.session_state["example"] = None


def _welcome() -> None:
    """The empty state: what the assistant does, and example questions."""
    st.markdown(
        "Posez une question sur les initiatives d'accueil du service public : chaque réponse "
        "cite ses sources **[n]** ; cliquez sur un numéro pour lire le passage dans sa fiche."
    )
    st.pills("Exemples", EXAMPLES, key="example", on_change=_ask_example)


def _next_question() -> Pending | None:
    """The question to answer in this run: typed, an example, or re-asked without some
    inferred filters."""
    typed = st.chat_input("Posez votre question sur les initiatives…", max_chars=2000)
    pending = st.session_state.pop(PENDING_KEY, None)
    if typed is not None:
        return Pending(typed)
    return pending if isinstance(pending, Pending) else None


def chat_page() -> None:
    """The chat: sidebar (conversations, filters, settings), the open conversation's
    turns, then the new question's live answer."""
    st.set_page_config(page_title="Assistant — Initiatives d'accueil")
    st.title("Assistant des initiatives d'accueil", anchor=False)
    services = ensure_ready(get_app_services())
    user = require_user()
    chat = chat_state(st.session_state)
    storage = Storage(services, user)
    open_conversation(chat, storage)
    fiches = services.fiches
    with st.sidebar:
        account_box()
        st.subheader("Conversations", anchor=False)
        conversations = st.container()  # filled at the end: lists the conversation this run creates
    options = render_settings(services.settings, list(fiches.values()))
    for notice in chat.notices:
        st.info(escape_markdown(notice), icon=":material/info:")
    chat.notices.clear()
    pending = _next_question()
    refused = blank_question(pending) if pending else None
    if refused:
        st.warning(escape_markdown(refused[:1].upper() + refused[1:]), icon=":material/edit_note:")
    elif pending:
        chat.waiting.append(pending)
    if not chat.turns and not chat.waiting:
        _welcome()
    for position, turn in enumerate(chat.turns):
        render_turn(turn, position, chat, fiches, storage)
    open_cited(chat, fiches)
    for waiting in list(chat.waiting):  # an interrupted question first, then the new one
        answer_live(waiting, services, options, chat, storage)
    storage.notice()
    with conversations:
        conversation_list(storage, chat, ASSISTANT)
    render_export(chat)
    render_window(options, services)  # last: shows what this run's answer taught about the window


def assistant() -> None:
    """The chat page, guarded."""
    guarded(chat_page, icon=":material/error:")


st.set_page_config(page_icon="💬", layout="wide")
ASSISTANT = st.Page(assistant, title="Assistant", icon=":material/chat:", default=True)
navigation = st.navigation([
    ASSISTANT,
    st.Page("pages/1_Catalogue.py", title="Catalogue", icon=":material/menu_book:"),
    st.Page("pages/2_Retours.py", title="Retours", icon=":material/reviews:"),
])
navigation.run()
