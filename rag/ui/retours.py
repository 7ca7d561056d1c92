"""The Retours page, for project leads: answers rated 👎 and questions answered « non
couvert », grouped by the initiative cited and by reason, each opening its conversation;
"ajouter au jeu d'évaluation" appends a question (a follow-up as the standalone question
it was searched with, shown under it), with the initiative expected, to the eval set
(``RAG_FEEDBACK_EVAL_PATH``, :meth:`ConversationStore.append_to_eval_set`); when that
file cannot be written the page says why and shows the line to add by hand.

In desktop mode the one local user sees everything; with a login, a user sees their own
feedback unless listed as a lead in the secrets (:func:`rag.ui.identity.is_lead`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import streamlit as st

from rag.catalogue.fiche import Fiche
from rag.conversations import ConversationStore, RetourGroup, RetourItem, Retours
from rag.conversations.evalset import eval_line
from rag.errors import ConfigError, DatabaseError, InputError
from rag.markdown import escape_markdown
from rag.text import excerpt, fold_spaced
from rag.ui.citing import CONVERSATION_PARAM
from rag.ui.conversations import when
from rag.ui.sources import heading

NONE = ""
"""The "not covered" choice of the expected-initiative list (gold ``[]``)."""
QUESTION_HEADING_CHARS = 160
"""A longer question is cut in its heading (with « … ») and shown whole below it."""
SHOWN_PER_GROUP = 5
"""Items drawn per group until « Afficher les N autres » (an item citing 4 initiatives is
drawn in 4 groups: 300 retours drew 1,100 forms and took 16 s)."""


def item_lines(item: RetourItem) -> str:
    """The item as escaped Markdown: date, verdict, reasons, comment, initiatives cited."""
    verdict = []
    if item.rating == "down":
        verdict.append("pas utile" + (f" ({', '.join(item.reasons)})" if item.reasons else ""))
    if item.not_covered:
        verdict.append("non couvert")
    lines = [f"{when(item.created_at)} — {' · '.join(verdict)}"]
    if item.comment:
        lines.append(f"Commentaire : « {item.comment} »")
    if item.initiatives:
        lines.append("Initiatives citées : " + ", ".join(i.title for i in item.initiatives))
    return "  \n".join(escape_markdown(line, line_breaks=False) for line in lines)


def _add_to_eval(item: RetourItem, key: str, path: Path) -> None:
    """Callback of "ajouter au jeu d'évaluation": the outcome in ``eval_done_<key>``; an
    unwritable file also leaves the line in ``eval_line_<key>``, to be copied by hand."""
    expected = st.session_state.get(f"expected_{key}") or NONE
    gold = [expected] if expected else []
    question, typed = (item.rewritten, item.question) if item.rewritten else (item.question, None)
    st.session_state.pop(f"eval_line_{key}", None)
    try:
        added = ConversationStore.append_to_eval_set(question, gold, path, typed)
    except ConfigError as exc:
        st.session_state[f"eval_done_{key}"] = f"Non ajoutée : {exc}."
        st.session_state[f"eval_line_{key}"] = eval_line(question, gold, typed)
        return
    except InputError as exc:
        st.session_state[f"eval_done_{key}"] = f"Non ajoutée : {exc}"
        return
    st.session_state[f"eval_done_{key}"] = (f"Question ajoutée au jeu d'évaluation ({path.name})."
                                            if added else "Déjà dans le jeu d'évaluation.")


def _eval_outcome(key: str) -> None:
    """What the last "ajouter" did: a caption, or an error and the line to add by hand."""
    done = st.session_state.get(f"eval_done_{key}")
    line = st.session_state.get(f"eval_line_{key}")
    if line:
        st.error(escape_markdown(done or ""), icon=":material/error:")
        st.caption("La ligne à ajouter à la main au jeu d'évaluation :")
        st.code(line, language="json", wrap_lines=True)
    elif done:
        st.caption(escape_markdown(done))


def retour_item(item: RetourItem, fiches: Mapping[str, Fiche], ids: list[str], key: str, eval_path: Path) -> None:
    """One answer to look at: the question (a heading), what went wrong, a link opening
    its conversation, and the eval-set form (``ids``: the choices, sorted once per page)."""
    with st.container(border=True, key=f"retour_{key}"):
        title = excerpt(item.question, QUESTION_HEADING_CHARS)
        heading(3, title)
        if title != " ".join(item.question.split()):  # a long question: whole below its heading
            st.markdown(escape_markdown(item.question))
        if item.rewritten:  # a follow-up: what it was read as, and what the eval set gets
            st.markdown(escape_markdown(f"Question autonome (recherchée, et ajoutée au jeu d'évaluation) : "
                                        f"« {item.rewritten} »"))
        st.markdown(item_lines(item))
        st.markdown(f"[Ouvrir la conversation](/?{CONVERSATION_PARAM}={item.conversation_id})")
        cited = [i.fiche_id for i in item.initiatives if i.fiche_id in fiches]
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        left.selectbox("Initiative attendue", ids, index=ids.index(cited[0]) if cited else 0, key=f"expected_{key}",
                       format_func=lambda fid: fiches[fid].title if fid else "Aucune (non couvert par le catalogue)")
        right.button("Ajouter au jeu d'évaluation", key=f"eval_{key}", on_click=_add_to_eval,
                     args=(item, key, eval_path), icon=":material/playlist_add:")
        _eval_outcome(key)


def _show_all(key: str) -> None:
    st.session_state[key] = True


def show_groups(found: list[RetourGroup], fiches: Mapping[str, Fiche], ids: list[str], prefix: str,
                eval_path: Path) -> None:
    """Each group: a heading with its size, then its newest items (all of them once asked)."""
    for group in found:
        heading(2, f"{group.label} ({len(group.items)})")
        group_key = f"{prefix}_{group.key or 'none'}"
        whole = st.session_state.get(f"all_{group_key}", False)
        for item in group.items if whole else group.items[:SHOWN_PER_GROUP]:
            retour_item(item, fiches, ids, f"{group_key}_{item.turn_id}", eval_path)
        hidden = 0 if whole else len(group.items) - SHOWN_PER_GROUP
        if hidden > 0:
            st.button(f"Afficher les {hidden} autres", key=f"more_{group_key}", on_click=_show_all,
                      args=(f"all_{group_key}",), icon=":material/expand_more:")


def retours_page(store: ConversationStore, user_id: str, everyone: bool, fiches: Mapping[str, Fiche],
                 eval_path: Path) -> None:
    """The page body: counts, then two tabs of groups (``eval_path``: the eval set the
    questions are added to, the setting ``feedback_eval_path``)."""
    try:
        retours: Retours = store.retours(user_id, all_users=everyone)
    except DatabaseError as exc:
        st.error(f"Base des conversations indisponible : {escape_markdown(str(exc))}", icon=":material/database:")
        return
    down = sum(item.rating == "down" for item in retours.items)
    uncovered = sum(item.not_covered for item in retours.items)
    scope = "de tous les utilisateurs" if everyone else "de vos conversations"
    st.markdown(f"{down} réponse(s) jugée(s) pas utile(s) et {uncovered} question(s) « non couvert » {scope}.")
    if retours.more:
        st.info(f"Seuls les {len(retours.items)} retours les plus récents sont affichés : les comptes ci-dessus "
                "et les groupes ci-dessous ne portent que sur eux.", icon=":material/filter_list:")
    if not retours.items:
        st.info("Aucun retour pour le moment : les réponses jugées pas utiles et les questions non couvertes "
                "apparaîtront ici.")
        return
    ids = [NONE, *sorted(fiches, key=lambda fid: fold_spaced(fiches[fid].title))]
    by_initiative, by_reason = st.tabs(["Par initiative citée", "Par raison"])
    with by_initiative:
        show_groups(retours.by_initiative(), fiches, ids, "i", eval_path)
    with by_reason:
        show_groups(retours.by_reason(), fiches, ids, "r", eval_path)
