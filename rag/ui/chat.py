"""The chat's answers: a live answer streamed from the pipeline, a past turn drawn again
from the conversation, the inferred-filter chips and the citation dialog.

Every assistant message has one fixed layout, live or past (:func:`_message_slots`):
slot 0 the answer text, slot 1 what is shown while the answer is written (the passages
found), then the details, written once. Nothing is written twice into one placeholder
with different layouts: Streamlit's frontend keeps the children of a block replaced by
a block of the same type, so the old live cards stayed under the answer and, when the
kept children no longer matched the deltas that followed, the page went blank with
``Cannot set a node at a delta path``.

Errors never escape as tracebacks: a :class:`~rag.errors.RagError` shows its message
(``st.error``) while the retrieved sources stay visible; anything else is logged and
shown as a generic message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rag.answer.pipeline import AnswerRun, ask
from rag.answer.support import describe
from rag.catalogue.fiche import Fiche
from rag.conversations import Timings
from rag.errors import InputError, RagError
from rag.markdown import escape_markdown, safe_markdown
from rag.search.filters import filter_label
from rag.services import Services
from rag.text import clean_question
from rag.types import Answer, Source
from rag.ui.citing import CITE_PARAM, cite_href, linked_answer, parse_cite
from rag.ui.conversations import Storage
from rag.ui.feedback import feedback_form
from rag.ui.sidebar import ChatOptions
from rag.ui.sources import heading, open_passage, source_card
from rag.ui.state import ChatState, Pending, Turn

log = logging.getLogger("rag.ui")

GENERIC_ERROR = "Une erreur inattendue est survenue ; elle a été consignée dans le journal du serveur."
PENDING_KEY = "pending_question"
REDRAW_SECONDS = 0.05
"""At most one redraw of the streamed text per this many seconds (fewer messages)."""


def blank_question(pending: Pending) -> str | None:
    """Why ``pending`` cannot be asked (only blanks or control characters), else ``None``.
    Such a question gets a hint, not a turn: an empty bubble and an error that is not
    stored, gone at the next run."""
    try:
        clean_question(pending.question, max(len(pending.question), 1))
    except InputError as exc:
        return str(exc)
    return None


def guarded(page: Callable[[], None], icon: str | None = None, name: str = "page") -> None:
    """Run a page; errors become a readable message (with ``icon``), never a traceback.
    Unexpected errors are logged as "``name`` failed"."""
    try:
        page()
    except RagError as exc:
        st.error(escape_markdown(str(exc)), icon=icon)
    except Exception:  # noqa: BLE001 - the UI never shows a traceback
        log.exception("%s failed", name)
        st.error(GENERIC_ERROR, icon=icon)


def _reask(turn: Turn, position: int, widget_key: str) -> None:
    """Callback: the user removed inferred filters -> ask the question again without
    them (as a new turn); the chips of the old turn are selected again."""
    kept_labels = set(st.session_state.get(widget_key) or [])
    kept = {k: v for k, v in turn.inferred.items() if filter_label(k, v) in kept_labels}
    st.session_state[widget_key] = _chip_labels(turn)
    st.session_state[PENDING_KEY] = Pending(turn.question, keep=kept, before=position)


def _chip_labels(turn: Turn) -> list[str]:
    """The turn's inferred filters as chip labels (« Commune : Nantes »)."""
    return [filter_label(k, v) for k, v in turn.inferred.items()]


def inferred_chips(turn: Turn, position: int) -> None:
    """Filters deduced from the question, as chips the user can remove (re-asks)."""
    if not turn.inferred:
        return
    labels = _chip_labels(turn)
    key = f"inferred_{turn.id}"
    # All selected at first, through the session state and not ``default``: :func:`_reask`
    # selects them again that way, and both at once make Streamlit log a warning.
    st.session_state.setdefault(key, labels)
    st.pills("Filtres déduits de la question (cliquez pour retirer)", labels, selection_mode="multi",
             key=key, on_change=_reask, args=(turn, position, key),
             format_func=lambda label: escape_markdown(label, line_breaks=False))


def _cards(sources: list[Source], turn: Turn, fiches: Mapping[str, Fiche]) -> None:
    for source in sources:
        source_card(source, fiches, key=f"{turn.id}_{source.n}", answer=turn.answer.answer)


def turn_details(turn: Turn, position: int, fiches: Mapping[str, Fiche], storage: Storage) -> None:
    """Everything under the answer text: notices, error, "non couvert", evidence, source
    cards (under real headings), inferred-filter chips, feedback."""
    answer = turn.answer
    for notice in answer.notices:
        st.info(escape_markdown(notice), icon=":material/info:")
    if answer.error:
        st.error(escape_markdown(answer.error), icon=":material/error:")
    if answer.abstained:
        st.warning("**Non couvert** : le catalogue ne contient pas d'initiative répondant à cette "
                   "question. Voici les initiatives les plus proches.", icon=":material/search_off:")
    if answer.evidence:
        st.caption(escape_markdown(f"Appuis : {answer.evidence}"))
    if answer.abstained and answer.sources:
        heading(2, "Initiatives les plus proches")
        _cards(answer.sources, turn, fiches)
    elif not answer.abstained:
        if turn.cited:
            heading(2, "Sources citées")
            _cards(turn.cited, turn, fiches)
        if turn.others:
            with st.expander(f"Aussi retrouvés ({len(turn.others)})", expanded=not turn.cited):
                _cards(turn.others, turn, fiches)
    inferred_chips(turn, position)
    if answer.answer or answer.sources:
        feedback_form(turn, storage.store, storage.user_id)


def _answer_text(turn: Turn, conversation_id: str | None) -> str:
    """The answer as Markdown, its ``[n]`` linked when the turn is stored."""
    href = partial(cite_href, conversation_id, turn.id) if turn.saved and conversation_id else None
    return linked_answer(turn.answer.answer, {s.n for s in turn.cited}, href)


def _message_slots() -> tuple[DeltaGenerator, DeltaGenerator]:
    """The fixed head of an assistant message: answer text, then the live area."""
    return st.empty(), st.empty()


def render_turn(turn: Turn, position: int, chat: ChatState, fiches: Mapping[str, Fiche], storage: Storage) -> None:
    """A past turn: the question, then the answer and its details."""
    with st.chat_message("user"):
        st.markdown(escape_markdown(turn.question))
    with st.chat_message("assistant"):
        text, _live = _message_slots()
        if turn.answer.answer:
            text.markdown(_answer_text(turn, chat.conversation_id))
        turn_details(turn, position, fiches, storage)


def _live_sources(run: AnswerRun) -> str:
    """What the live area shows while the answer is written: the passages found."""
    lines = [f"- {escape_markdown(f'{s.title} › {s.section}', line_breaks=False)}" for s in run.sources]
    return "Passages retrouvés — rédaction de la réponse…\n\n" + "\n".join(lines)


def _stream(run: AnswerRun, text: DeltaGenerator, started: float) -> Timings:
    """Stream the answer into ``text`` (a redraw at most every :data:`REDRAW_SECONDS`)."""
    shown, first, last = "", None, 0.0
    for chunk in run.stream():
        if not chunk:
            continue
        shown += chunk
        now = time.perf_counter()
        first = first or now
        if now - last >= REDRAW_SECONDS:
            text.markdown(safe_markdown(shown) + " ▌")
            last = now
    return Timings.since(started, first)


def _failed(question: str, message: str, filters: dict[str, str], run: AnswerRun | None, backend: str) -> Answer:
    """The answer kept when answering raised: the message, and the sources if retrieved."""
    return Answer(question=question, standalone_question=run.standalone if run else question, answer="",
                  citations=[], sources=list(run.sources) if run else [], abstained=False, backend=backend,
                  evidence="", error=message, filters=filters)


def _produce(question: str, services: Services, options: ChatOptions, history: list[tuple[str, str]],
             keep: dict[str, str] | None,
             slots: tuple[DeltaGenerator, DeltaGenerator]) -> tuple[Answer, Timings, AnswerRun | None]:
    """Run the pipeline into the live slots; (answer, timings, the run if one started).
    The timings count from here, this question's answering, as the API and the CLI count
    from the request: not the page's own work, nor an answer written before it."""
    started = time.perf_counter()
    text, live = slots
    filters = {**(keep or {}), **options.filters}
    run = None
    try:
        run = ask(question, services, history=history, filters=filters, backend=options.backend,
                  k=options.k, infer=keep is None, **options.overrides)
        live.markdown(_live_sources(run))
        timings = _stream(run, text, started)
        result = run.result
        notices = [*result.notices, *(describe(item) for item in result.unsupported)]  # « … » — non étayé par [n]
        return result.model_copy(update={"notices": notices}), timings, run
    except RagError as exc:
        message = str(exc)
    except Exception:  # noqa: BLE001 - the UI must never show a traceback
        log.exception("unexpected error while answering %r", question[:80])
        message = GENERIC_ERROR
    elapsed = Timings(total_ms=Timings.since(started).total_ms)  # no first token: it failed
    return _failed(question, message, filters, run, options.backend), elapsed, run


def _save(turn: Turn, chat: ChatState, storage: Storage, model: str | None) -> None:
    """Store the turn (creating the conversation, named by its first question, and
    putting its id in the URL); a database fault leaves it in this tab only."""
    store = storage.store
    if store is None:
        return
    exchange = store.exchange(storage.user_id, chat.conversation_id)
    stored = storage.attempt(lambda _: exchange.add(turn.answer, turn.timings, model, turn.inferred))
    if chat.conversation_id is None and exchange.id is not None:  # created, even if the turn then failed
        chat.conversation_id = exchange.id
        st.query_params["c"] = exchange.id
    if stored is not None:
        turn.id, turn.saved = stored.id, True


def answer_live(pending: Pending, services: Services, options: ChatOptions, chat: ChatState,
                storage: Storage) -> Turn:
    """Ask the pipeline, show the passages found, stream the answer, save the turn (and
    take ``pending`` off ``chat.waiting``), then draw the final text (citations linked)
    and the details. Returns the new turn."""
    with st.chat_message("user"):
        st.markdown(escape_markdown(pending.question))
    with st.chat_message("assistant"):
        slots = _message_slots()
        before = chat.turns if pending.before is None else chat.turns[:pending.before]
        answer, timings, run = _produce(pending.question, services, options, [t.pair() for t in before],
                                        pending.keep, slots)
        turn = Turn.new(answer, options.filters, timings)
        if run is not None:
            _save(turn, chat, storage, run.model)
        chat.turns.append(turn)
        if pending in chat.waiting:  # answered and stored: a rerun from now on loses nothing
            chat.waiting.remove(pending)
        text, live = slots
        live.empty()
        if answer.answer:
            text.markdown(_answer_text(turn, chat.conversation_id))
        else:
            text.empty()
        turn_details(turn, len(chat.turns) - 1, services.fiches, storage)
    return turn


def open_cited(chat: ChatState, fiches: Mapping[str, Fiche]) -> None:
    """A clicked ``[n]`` (``?cite=<turn>-<n>``): the fiche viewer on passage ``n`` with
    the cited sentence highlighted. The parameter is dropped once handled."""
    wanted = parse_cite(st.query_params.get(CITE_PARAM))
    st.query_params.pop(CITE_PARAM, None)
    if wanted is None:
        return
    turn_id, n = wanted
    turn = next((t for t in chat.turns if t.id == turn_id), None)
    source = next((s for s in turn.answer.sources if s.n == n), None) if turn else None
    if turn is None or source is None or source.fiche_id not in fiches:
        st.warning("Cette citation n'existe plus dans la conversation.", icon=":material/link_off:")
        return
    open_passage(source, fiches[source.fiche_id], turn.answer.answer)
