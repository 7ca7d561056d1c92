"""The conversation as a Markdown document (questions, answers, sources), for download.

Text from the corpus and the model is escaped exactly as on screen, so opening the
export in a Markdown viewer cannot run markup; only http(s) links are kept as links.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rag.search.filters import FILTER_FIELDS
from rag.types import Source
from rag.ui.rendering import escape_markdown, markdown_link, safe_markdown
from rag.ui.state import Turn


def source_line(source: Source) -> str:
    """``[n] Titre › Section — ville, échelle, acteur — lien`` as one Markdown line."""
    head = escape_markdown(source.heading, line_breaks=False)
    facts = [v for v in (source.ville, source.echelle, source.acteur) if v]
    line = f"- **{head}**"
    if facts:
        line += " — " + escape_markdown(", ".join(facts), line_breaks=False)
    if source.url:
        line += " — " + markdown_link("site de l'initiative", source.url)
    return line


def filter_label(key: str, value: str) -> str:
    """``Commune : Nantes`` (plain text): a filter as the chips and the export name it."""
    return f"{FILTER_FIELDS[key].label if key in FILTER_FIELDS else key} : {value}"


def filters_text(filters: dict[str, str]) -> str:
    """``Commune : Nantes, Échelle d'action : Locale`` (plain text)."""
    return ", ".join(filter_label(k, v) for k, v in filters.items())


def turn_markdown(turn: Turn, number: int) -> str:
    """One turn: question, answer (or error), filters, cited then other sources."""
    answer = turn.answer
    parts = [f"## {number}. {escape_markdown(turn.question, line_breaks=False)}", ""]
    if answer.answer:
        parts += [safe_markdown(answer.answer), ""]
    if answer.error:
        parts += [f"> Erreur : {escape_markdown(answer.error, line_breaks=False)}", ""]
    if answer.abstained:
        parts += ["_Question non couverte par le catalogue._", ""]
    if answer.filters:
        parts += [f"Filtres : {escape_markdown(filters_text(answer.filters))}", ""]
    if turn.cited:
        parts += ["### Sources citées", *map(source_line, turn.cited), ""]
    if turn.others:
        parts += ["### Aussi retrouvés", *map(source_line, turn.others), ""]
    return "\n".join(parts)


def conversation_markdown(turns: list[Turn], *, backend: str = "") -> str:
    """The whole conversation as a Markdown document."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = ["# Conversation — catalogue des initiatives d'accueil", ""]
    header += [f"Exportée le {stamp}" + (f" (moteur : {escape_markdown(backend)})" if backend else ""), ""]
    body = [turn_markdown(turn, i) for i, turn in enumerate(turns, 1)]
    return "\n".join(header + body)
