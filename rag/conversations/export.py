"""A stored conversation as a document: Markdown (for reading, ``conversations export
--format md``) or JSON (every stored field, ``--format json``)."""

from __future__ import annotations

from typing import Any

from rag.conversations.models import Conversation, StoredTurn
from rag.types import Source


def conversation_json(conversation: Conversation) -> dict[str, Any]:
    """Every stored field, JSON-ready (dates in ISO 8601)."""
    return conversation.model_dump(mode="json")


def _source_line(source: Source) -> str:
    facts = ", ".join(value for value in (source.ville, source.echelle, source.acteur) if value)
    line = f"- {source.heading}" + (f" — {facts}" if facts else "")
    return line + (f" — <{source.url}>" if source.url.startswith(("http://", "https://")) else "")


def turn_markdown(turn: StoredTurn, number: int) -> str:
    """One turn: question, answer or error, filters, cited then other sources."""
    parts = [f"## {number}. {' '.join(turn.question.split())}", ""]
    if turn.answer:
        parts += [turn.answer.strip(), ""]
    if turn.error:
        parts += [f"> Erreur : {turn.error}", ""]
    if turn.abstained:
        parts += ["_Question non couverte par le catalogue._", ""]
    if turn.filters:
        parts += ["Filtres : " + ", ".join(f"{key} = {value}" for key, value in turn.filters.items()), ""]
    cited = turn.citations
    others = [source for source in turn.sources if source not in cited]
    if cited:
        parts += ["### Sources citées", *map(_source_line, cited), ""]
    if others:
        title = "### Initiatives proches" if turn.abstained else "### Aussi retrouvés"
        parts += [title, *map(_source_line, others), ""]
    if turn.feedback:
        opinion = "👍" if turn.feedback.rating == "up" else "👎"
        details = "; ".join([*turn.feedback.reasons, *([turn.feedback.comment] if turn.feedback.comment else [])])
        parts += [f"Avis : {opinion}" + (f" ({details})" if details else ""), ""]
    return "\n".join(parts)


def conversation_markdown(conversation: Conversation) -> str:
    """The whole conversation, oldest question first."""
    stamp = conversation.updated_at.strftime("%Y-%m-%d %H:%M UTC")
    header = [f"# {conversation.title}", "", f"Conversation {conversation.id}, mise à jour le {stamp}.", ""]
    body = [turn_markdown(turn, number) for number, turn in enumerate(conversation.turns, 1)]
    return "\n".join(header + body).rstrip() + "\n"
