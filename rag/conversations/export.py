"""A conversation as a document: Markdown for reading (the chat's download button and
``conversations export --format md``, one writer so both give the same text) or JSON
(every stored field, ``--format json``).

The Markdown is built from what the chat page and the store both have: the pipeline's
:class:`~rag.types.Answer` of each turn and the user's opinion. Text from the corpus, the
model and the user is escaped as on screen (:mod:`rag.markdown`), so opening the export
in a Markdown viewer cannot run markup; only http(s) links stay links.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from rag.conversations.models import Conversation, FeedbackRecord
from rag.markdown import escape_markdown, markdown_link, safe_markdown
from rag.search.filters import filter_label
from rag.types import Answer, Source

_DEFAULT_TITLE = "Conversation — catalogue des initiatives d'accueil"
"""The document's title when the conversation's is not known (not stored yet)."""


class ExportTurn(NamedTuple):
    """One turn as the export reads it: the answer and, if given, the user's opinion."""

    answer: Answer
    feedback: FeedbackRecord | None = None


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """Every stored field, JSON-ready (dates in ISO 8601)."""
    return conversation.model_dump(mode="json")


def _source_line(source: Source) -> str:
    """``- **[n] Titre › Section** — ville, échelle, acteur — lien`` as one Markdown line."""
    line = f"- **{escape_markdown(source.heading, line_breaks=False)}**"
    facts = ", ".join(value for value in (source.ville, source.echelle, source.acteur) if value)
    if facts:
        line += " — " + escape_markdown(facts, line_breaks=False)
    if source.url:
        line += " — " + markdown_link("site de l'initiative", source.url)
    return line


def _opinion(feedback: FeedbackRecord) -> str:
    """``Avis : 👎 (Incomplet; il manque Quimper)``."""
    details = "; ".join([*feedback.reasons, *([feedback.comment] if feedback.comment else [])])
    return f"Avis : {'👍' if feedback.rating == 'up' else '👎'}" + (f" ({escape_markdown(details)})" if details else "")


def turn_markdown(turn: ExportTurn, number: int) -> str:
    """One turn: question, answer or error, filters, cited sources then the others
    (« Initiatives proches » when the answer abstained), the user's opinion."""
    answer = turn.answer
    question = escape_markdown(" ".join(answer.question.split()), line_breaks=False)
    parts = [f"## {number}. {question}", ""]
    if answer.answer.strip():
        parts += [safe_markdown(answer.answer.strip()), ""]
    if answer.error:
        parts += [f"> Erreur : {escape_markdown(answer.error, line_breaks=False)}", ""]
    if answer.abstained:
        parts += ["_Question non couverte par le catalogue._", ""]
    if answer.filters:
        labels = ", ".join(filter_label(key, value) for key, value in answer.filters.items())
        parts += [f"Filtres : {escape_markdown(labels)}", ""]
    cited = answer.citations
    cited_numbers = {source.n for source in cited}
    others = [source for source in answer.sources if source.n not in cited_numbers]
    if cited:
        parts += ["### Sources citées", *map(_source_line, cited), ""]
    if others:
        parts += ["### Initiatives proches" if answer.abstained else "### Aussi retrouvés",
                  *map(_source_line, others), ""]
    if turn.feedback:
        parts += [_opinion(turn.feedback), ""]
    return "\n".join(parts)


def turns_markdown(turns: Sequence[ExportTurn], *, title: str = "", conversation_id: str = "",
                   exported_at: datetime | None = None) -> str:
    """The whole conversation, oldest question first, under a header: its title (else
    :data:`_DEFAULT_TITLE`), its id when stored, the export date and the engines that answered."""
    stamp = (exported_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    engines = list(dict.fromkeys(turn.answer.backend for turn in turns if turn.answer.backend))
    line = f"Conversation {conversation_id}, exportée le {stamp}" if conversation_id else f"Exportée le {stamp}"
    if engines:
        line += f" (moteur{'s' if len(engines) > 1 else ''} : {', '.join(engines)})"
    header = [f"# {escape_markdown(title, line_breaks=False) if title else _DEFAULT_TITLE}", "",
              escape_markdown(line + ".", line_breaks=False), ""]
    body = [turn_markdown(turn, number) for number, turn in enumerate(turns, 1)]
    return "\n".join(header + body).rstrip() + "\n"


def conversation_markdown(conversation: Conversation, *, exported_at: datetime | None = None) -> str:
    """A stored conversation as :func:`turns_markdown` writes it (the store knows its title)."""
    turns = [ExportTurn(turn.to_answer(), turn.feedback) for turn in conversation.turns]
    return turns_markdown(turns, title=conversation.title, conversation_id=conversation.id,
                          exported_at=exported_at)
