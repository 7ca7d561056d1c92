"""The stored conversations in the chat: which one is open (``?c=<id>`` in the URL, so a
reload or a shared link reopens it), the sidebar list (open, search, rename, delete,
"Nouvelle conversation"), and every call to the store guarded.

A database fault never stops the chat: :class:`Storage` turns it into one French notice
("rien n'est enregistré") and the session's own copy of the turns stays on screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from rag.conversations import ConversationStore, ConversationSummary
from rag.errors import ConfigError, ConversationNotFound, DatabaseError, InputError
from rag.markdown import escape_markdown
from rag.services import Services
from rag.text import excerpt
from rag.ui.citing import CITE_PARAM, CONVERSATION_PARAM
from rag.ui.state import STATE_KEY, ChatState, Turn, chat_state

log = logging.getLogger("rag.ui")
T = TypeVar("T")
LIST_LIMIT = 30
LIST_TITLE_CHARS = 40
"""Past this many characters a title is cut (« … ») in the sidebar list, whole in its tooltip."""


class Storage:
    """The conversations store for one run and one user; a fault is kept, not raised."""

    def __init__(self, services: Services, user_id: str) -> None:
        self.services, self.user_id = services, user_id
        self.fault: str | None = None

    @property
    def store(self) -> ConversationStore | None:
        """The store, or ``None`` once a fault happened in this run."""
        if self.fault is not None:
            return None
        try:
            return self.services.conversations
        except (DatabaseError, ConfigError) as exc:  # a bad RAG_DATABASE_URL: answer all the same
            self.fault = str(exc)
            return None

    def attempt(self, call: Callable[[ConversationStore], T]) -> T | None:
        """``call(store)``, or ``None`` (the fault kept) when the database fails."""
        store = self.store
        if store is None:
            return None
        try:
            return call(store)
        except DatabaseError as exc:
            log.warning("conversations database: %s", exc)
            self.fault = str(exc)
            return None

    def notice(self) -> None:
        """The fault, if any, as one French warning."""
        if self.fault:
            st.warning(f"Base des conversations indisponible : rien n'est enregistré pour le moment "
                       f"(la conversation reste affichée dans cet onglet). {escape_markdown(self.fault)}",
                       icon=":material/database:")


def open_conversation(chat: ChatState, storage: Storage) -> None:
    """Bring ``chat`` in line with ``?c=`` in the URL: load that conversation's turns
    (again at every run: another tab may have added some), or open a new conversation
    with a notice when the id is unknown. A run without ``?c=`` keeps the conversation
    this tab shows: the chat page opened again from the menu, or a question sent before
    the browser got the address of the conversation the previous answer created (it
    was filed in a new conversation). "Nouvelle conversation" empties the tab itself."""
    requested = st.query_params.get(CONVERSATION_PARAM) or chat.conversation_id
    if not requested:
        return
    try:
        conversation = storage.attempt(lambda store: store.get_conversation(requested, storage.user_id))
    except (ConversationNotFound, InputError):
        chat.notices.append(f"La conversation « {requested[:40]} » est introuvable (supprimée, ou ouverte avec "
                            "un autre compte) : une nouvelle conversation commence.")
        st.query_params.pop(CONVERSATION_PARAM, None)
        st.query_params.pop(CITE_PARAM, None)
        chat.conversation_id, chat.turns, chat.title, chat.created = None, [], "", None
        chat.waiting.clear()
        return
    if chat.conversation_id != requested:  # another conversation: its questions only
        chat.waiting.clear()
    if conversation is None:  # database fault: keep what this tab shows
        if chat.conversation_id != requested:
            chat.conversation_id, chat.turns, chat.title, chat.created = requested, [], "", None
        return
    if st.query_params.get(CONVERSATION_PARAM) != requested or chat.conversation_id != requested:
        st.query_params[CONVERSATION_PARAM] = requested  # a page link does not update the address bar
    chat.conversation_id, chat.title, chat.created = requested, conversation.title, conversation.created_at
    chat.turns = [Turn.from_stored(turn) for turn in conversation.turns]


def new_conversation() -> None:
    """Callback of "Nouvelle conversation": the URL loses its ``?c=``, the tab its turns."""
    st.query_params.pop(CONVERSATION_PARAM, None)
    st.query_params.pop(CITE_PARAM, None)
    st.session_state[STATE_KEY] = ChatState()


def when(stamp: datetime) -> str:
    """``29/11 14:05`` in the server's time zone (the user's, in desktop mode)."""
    return stamp.astimezone().strftime("%d/%m %H:%M")


def list_label(item: ConversationSummary) -> tuple[str, bool]:
    """An entry of the list, ``29/11 14:05 · Titre coupé …``, and whether its title was
    cut. The date comes first: a link's label is one line clipped at the sidebar's edge
    (about 20 characters of title at its default width), so a long title after the date
    can only lose its own end."""
    title = excerpt(item.title, LIST_TITLE_CHARS)
    return f"{when(item.updated_at)} · {escape_markdown(title, line_breaks=False)}", title != item.title


def _rename(storage: Storage, conversation_id: str) -> None:
    title = str(st.session_state.get("rename_title") or "")
    try:
        storage.attempt(lambda store: store.rename_conversation(conversation_id, storage.user_id, title))
    except (InputError, ConversationNotFound) as exc:
        chat_state(st.session_state).notices.append(f"Titre non modifié : {exc}")


def _delete(storage: Storage, conversation_id: str) -> None:
    try:
        storage.attempt(lambda store: store.delete_conversation(conversation_id, storage.user_id))
    except ConversationNotFound:
        pass  # already gone (another tab)
    if storage.fault is None:
        new_conversation()


def _actions(storage: Storage, current: ConversationSummary) -> None:
    """Rename or delete the open conversation (in a popover)."""
    with st.popover("Renommer ou supprimer", icon=":material/edit:", width="stretch"):
        st.text_input("Nouveau titre", value=current.title, key="rename_title", max_chars=200)
        st.button("Renommer", on_click=_rename, args=(storage, current.id), key="rename")
        sure = st.checkbox("Je confirme la suppression de cette conversation", key="delete_sure")
        st.button("Supprimer la conversation", on_click=_delete, args=(storage, current.id), key="delete",
                  disabled=not sure, icon=":material/delete:")


def conversation_list(storage: Storage, chat: ChatState, page: StreamlitPage) -> None:
    """The sidebar list: "Nouvelle conversation", a search box, then the user's
    conversations (newest first) as links to ``?c=<id>``; the open one in bold. Drawn
    after this run's answer, it also gives ``chat`` the title of a conversation this
    run created (named by its first question), for the export."""
    st.button("Nouvelle conversation", on_click=new_conversation, icon=":material/add_comment:",
              width="stretch", key="new_conversation")
    search = st.text_input("Rechercher une conversation", key="conversation_search", max_chars=200)
    found = storage.attempt(lambda store: store.list_conversations(storage.user_id, search=search or None,
                                                                    limit=LIST_LIMIT))
    if found is None:
        st.caption("Liste indisponible (base des conversations en panne).")
        return
    if not found:
        st.caption("Aucune conversation trouvée." if search else "Aucune conversation enregistrée.")
    current = None
    for item in found:
        label, cut = list_label(item)
        whole = escape_markdown(item.title, line_breaks=False)  # the tooltip
        if item.id == chat.conversation_id:  # wrapped, not clipped: a tooltip if cut
            current = item
            chat.title, chat.created = item.title, item.created_at
            st.markdown(f"**▸ {label}** (ouverte)", help=whole if cut else None)
        else:
            st.page_link(page, label=label, help=whole, query_params={CONVERSATION_PARAM: item.id}, width="stretch")
    if current is not None:
        _actions(storage, current)
