"""The opinion on one answer, saved in the conversations database: 👍/👎, the reasons of
a 👎 (:data:`rag.conversations.REASONS`), a comment. It feeds the Retours page.

The form is submitted through a callback, so the opinion is saved before the page is
drawn again and the turn comes back from the database with it. An answer that could not
be saved (database fault) cannot be rated: the form says so instead.
"""

from __future__ import annotations

import logging

import streamlit as st

from rag.conversations import REASONS, ConversationStore, FeedbackRecord
from rag.errors import DatabaseError, InputError
from rag.markdown import escape_markdown
from rag.ui.state import Turn

log = logging.getLogger("rag.ui")

RESULT_KEY = "feedback_result"
"""Session key: ``{turn id: message}`` of the last submission (error or thanks)."""


def _submit(store: ConversationStore, user_id: str, turn_id: str) -> None:
    """Callback of "Envoyer l'avis": save the opinion, or keep a readable message."""
    results: dict[str, tuple[bool, str]] = st.session_state.setdefault(RESULT_KEY, {})
    rating = st.session_state.get(f"rating_{turn_id}")
    if rating is None:
        results[turn_id] = (False, "Choisissez un pouce (utile ou pas utile) avant d'envoyer.")
        return
    up = rating == 1
    reasons = [] if up else list(st.session_state.get(f"reasons_{turn_id}") or [])
    comment = str(st.session_state.get(f"comment_{turn_id}") or "")
    try:
        store.add_feedback(turn_id, user_id, "up" if up else "down", reasons, comment)
    except (DatabaseError, InputError) as exc:
        results[turn_id] = (False, f"Avis non enregistré : {exc}")
        return
    results[turn_id] = (True, "Merci, votre avis a été enregistré.")


def opinion_line(record: FeedbackRecord) -> str:
    """« Votre avis : pas utile (Incomplet, Hors sujet) — « commentaire » » (escaped; in
    words: an emoji is read or drawn differently everywhere)."""
    line = "Votre avis : " + ("utile" if record.rating == "up" else "pas utile")
    if record.reasons:
        line += f" ({', '.join(record.reasons)})"
    if record.comment:
        line += f" — « {record.comment} »"
    return escape_markdown(line, line_breaks=False)


def feedback_form(turn: Turn, store: ConversationStore | None, user_id: str) -> None:
    """The opinion form under an answer, or the opinion already given."""
    ok, message = st.session_state.get(RESULT_KEY, {}).get(turn.id, (True, ""))
    if turn.feedback is not None:
        st.caption(opinion_line(turn.feedback) + (f" — {message}" if ok and message else ""))
        return
    if not turn.saved or store is None:
        st.caption("Avis indisponible : cette réponse n'a pas été enregistrée.")
        return
    with st.form(key=f"feedback_{turn.id}", border=False):
        st.feedback("thumbs", key=f"rating_{turn.id}")
        st.pills("En cas d'avis négatif, qu'est-ce qui ne va pas ?", REASONS, selection_mode="multi",
                 key=f"reasons_{turn.id}")
        st.text_input("Commentaire (facultatif)", key=f"comment_{turn.id}", max_chars=2000)
        st.form_submit_button("Envoyer l'avis", on_click=_submit, args=(store, user_id, turn.id))
    if message and not ok:
        st.warning(escape_markdown(message), icon=":material/warning:")
