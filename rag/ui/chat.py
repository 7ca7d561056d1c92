"""The chat's answer rendering: a live answer streamed from the pipeline, a past turn
re-rendered from the session, the inferred-filter chips and the feedback form.

Errors never escape as tracebacks: a :class:`~rag.errors.RagError` shows its message
(``st.error``) while the retrieved sources stay visible; anything else is logged and
shown as a generic message.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from rag.answer.pipeline import ask
from rag.answer.support import describe
from rag.errors import RagError
from rag.search.filters import FILTER_FIELDS
from rag.ui.feedback import append_feedback
from rag.ui.rendering import escape_markdown, safe_markdown, safe_stream
from rag.ui.sidebar import ChatOptions
from rag.ui.sources import source_cards
from rag.ui.state import Turn, turn_from_answer

log = logging.getLogger("rag.ui")

GENERIC_ERROR = "Une erreur inattendue est survenue ; elle a été consignée dans le journal du serveur."
PENDING_KEY = "pending_question"


def guarded(page, icon: str | None = None, name: str = "page") -> None:  # noqa: ANN001
    """Run a page; errors become a readable message (with ``icon``), never a traceback.
    Unexpected errors are logged as "``name`` failed"."""
    try:
        page()
    except RagError as exc:
        st.error(str(exc), icon=icon)
    except Exception:  # noqa: BLE001 - the UI never shows a traceback
        log.exception("%s failed", name)
        st.error(GENERIC_ERROR, icon=icon)


def _label(key: str, value: str) -> str:
    return f"{FILTER_FIELDS[key].label if key in FILTER_FIELDS else key} : {value}"


def _reask(turn: Turn, widget_key: str) -> None:
    """Callback: the user removed inferred filters -> ask the question again without them."""
    kept_labels = set(st.session_state.get(widget_key) or [])
    kept = {k: v for k, v in turn.inferred.items() if _label(k, v) in kept_labels}
    st.session_state[PENDING_KEY] = {"question": turn.question, "keep": kept, "replace": turn.id}


def inferred_chips(turn: Turn) -> None:
    """Filters deduced from the question, as chips the user can remove (re-asks)."""
    if not turn.inferred:
        return
    labels = [_label(k, v) for k, v in turn.inferred.items()]
    key = f"inferred_{turn.id}"
    st.pills("Filtres déduits de la question (cliquez pour retirer)", labels, selection_mode="multi",
             default=labels, key=key, on_change=_reask, args=(turn, key),
             format_func=lambda label: escape_markdown(label, line_breaks=False))


def _feedback_record(turn: Turn, rating: int, comment: str) -> dict[str, Any]:
    """What one feedback line holds (no settings, hence no secret)."""
    def brief(s: Any) -> dict[str, Any]:
        return {"n": s.n, "fiche_id": s.fiche_id, "title": s.title, "section": s.section}

    return {
        "turn_id": turn.id, "rating": "up" if rating == 1 else "down", "comment": comment.strip(),
        "question": turn.question, "answer": turn.answer, "backend": turn.backend,
        "filters": turn.filters, "abstained": turn.abstained, "error": turn.error,
        "cited": [brief(s) for s in turn.cited], "sources": [brief(s) for s in turn.sources],
    }


def feedback_form(turn: Turn, settings: Any) -> None:
    """Thumbs up/down and an optional comment, appended to ``feedback.jsonl`` on submit."""
    done_key = f"feedback_done_{turn.id}"
    if st.session_state.get(done_key):
        st.caption("Merci, votre avis a été enregistré.")
        return
    with st.form(key=f"feedback_{turn.id}", border=False):
        rating = st.feedback("thumbs", key=f"rating_{turn.id}")
        comment = st.text_input("Commentaire (facultatif)", key=f"comment_{turn.id}", max_chars=2000)
        if st.form_submit_button("Envoyer l'avis"):
            if rating is None:
                st.warning("Choisissez 👍 ou 👎 avant d'envoyer.")
                return
            try:
                append_feedback(settings.data_dir, _feedback_record(turn, rating, comment),
                                secrets=(settings.api_key() or "",))
            except OSError:
                log.exception("feedback write failed")
                st.error("Impossible d'enregistrer l'avis (voir le journal du serveur).")
                return
            st.session_state[done_key] = True
            st.caption("Merci, votre avis a été enregistré.")


def turn_details(turn: Turn, fiches: dict, settings: Any) -> None:
    """Everything under the answer text: notices, error, "non couvert", evidence, source
    cards, inferred-filter chips, feedback."""
    for notice in turn.notices:
        st.info(escape_markdown(notice), icon=":material/info:")
    if turn.error:
        st.error(escape_markdown(turn.error), icon=":material/error:")
    if turn.abstained:
        st.warning("**Non couvert** : le catalogue ne contient pas d'initiative répondant à cette "
                   "question. Voici les initiatives les plus proches.", icon=":material/search_off:")
    if turn.evidence:
        st.caption(escape_markdown(turn.evidence))
    if turn.abstained:
        source_cards(turn.sources, fiches, key=turn.id)
    else:
        if turn.cited:
            st.markdown("**Sources citées**")
            source_cards(turn.cited, fiches, key=turn.id)
        if turn.others:
            with st.expander(f"Aussi retrouvés ({len(turn.others)})", expanded=not turn.cited):
                source_cards(turn.others, fiches, key=turn.id)
    inferred_chips(turn)
    if turn.answer or turn.sources:
        feedback_form(turn, settings)


def render_turn(turn: Turn, fiches: dict, settings: Any) -> None:
    """A past turn: the question, then the answer and its details."""
    with st.chat_message("user"):
        st.markdown(escape_markdown(turn.question))
    with st.chat_message("assistant"):
        if turn.answer:
            st.markdown(safe_markdown(turn.answer))
        turn_details(turn, fiches, settings)


def _failed(question: str, message: str, filters: dict, sources: list) -> Turn:
    """The turn kept when answering raised: the message, and the sources if retrieved."""
    return Turn(question=question, error=message, filters=filters, sources=sources)


def answer_live(question: str, services: Any, options: ChatOptions, history: list[tuple[str, str]],
                keep: dict[str, str] | None = None) -> Turn:
    """Ask the pipeline, show the retrieved passages at once, stream the answer, then
    the final details. Returns the turn to keep in the session.

    ``keep`` is ``None`` for a new question (the pipeline infers filters from it), or the
    inferred filters the user kept when re-asking after removing some chips."""
    filters = {**(keep or {}), **options.filters}
    with st.chat_message("user"):
        st.markdown(escape_markdown(question))
    with st.chat_message("assistant"):
        answer_slot, details = st.container(), st.empty()
        run = None
        try:
            run = ask(question, services, history=history, filters=filters, backend=options.backend,
                      k=options.k, infer=keep is None, **options.overrides)
            with details.container():
                st.caption("Passages retrouvés — rédaction de la réponse…")
                source_cards(run.sources, {}, key="live", openable=False)
            with answer_slot:
                st.write_stream(safe_stream(run.stream()))
            turn = turn_from_answer(run.result, options.filters)
            turn.notices += [describe(item) for item in run.result.unsupported]  # « … » — non étayé par [n]
        except RagError as exc:
            turn = _failed(question, str(exc), filters, list(run.sources) if run else [])
        except Exception:  # noqa: BLE001 - the UI must never show a traceback
            log.exception("unexpected error while answering %r", question[:80])
            turn = _failed(question, GENERIC_ERROR, filters, list(run.sources) if run else [])
        with details.container():
            turn_details(turn, services.fiches, services.settings)
    return turn
