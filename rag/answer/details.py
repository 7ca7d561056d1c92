"""Questions about a detail a fiche may not give: a phone number, a budget, a rate, a
count, a duration.

Retrieval finds the right fiche for « quel est le numéro de téléphone du Liberté Living
Lab ? », but its passages hold no phone number: quoting its closest sentences would
look like an answer. :func:`missing_detail` recognises such a question (accent-folded
patterns), looks for the detail's form in the initiative's passages (a phone number, an
amount in euros, a percentage, a number before the counted word, a duration) and, when
none is there, says so: « La fiche … ne précise pas … », with the contact the fiche
gives (its ``Comment contacter`` field, else its actor and link), cited.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from rag.text import fold
from rag.types import Passage

_NUMBER = r"(?:\d[\d\s.,]*|un|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|mille)"


class Detail(NamedTuple):
    """What a question asks (folded pattern), how the detail is written, and its French name."""

    asked: re.Pattern[str]
    found: Callable[[str, str], bool]
    name: str


def _pattern(regex: str) -> Callable[[str, str], bool]:
    compiled = re.compile(regex)
    return lambda question, text: bool(compiled.search(text))


def _count(question: str, text: str) -> bool:
    """« combien de citoyens … » is answered by a number before « citoyens » (or its stem)."""
    noun = re.search(r"\bcombien d(?:e |')(\w+)", question)
    if not noun:
        return False
    stem = noun.group(1)[:5]
    return bool(re.search(rf"\b{_NUMBER}\s+(?:\w+\s+){{0,2}}{re.escape(stem)}", text))


DETAILS = (
    Detail(re.compile(r"\b(numero (de )?(telephone|tel)|quel numero|phone number|telephone number)\b"),
           _pattern(r"(?:\+33|\b0)\s?[1-9](?:[\s.-]?\d{2}){4}\b"), "le numéro de téléphone"),
    Detail(re.compile(r"\b(budget|montant|combien a coute|combien .{0,30}\b(euros|coute)|cout de|quel cout)\b"),
           _pattern(r"\d[\d\s.,]*\s?(?:€|euros?\b|k€|m€|millions? d'euros)"), "le budget ni le coût"),
    Detail(re.compile(r"\b(taux|pourcentage|proportion|percentage|rate)\b"),
           _pattern(r"\d+(?:[.,]\d+)?\s?(?:%|pour ?cent)"), "ce taux"),
    Detail(re.compile(r"\bcombien de temps|\bduree\b|how long\b"),
           _pattern(rf"\b{_NUMBER}\s*(?:ans?|annees?|mois|semaines?|jours?)\b"), "la durée"),
    Detail(re.compile(r"\bcombien d(?:e |')(?!temps)"), _count, "ce nombre"),
)


def missing_detail(question: str, passages: list[Passage]) -> str | None:
    """« La fiche « Titre » ne précise pas … » with its contact and a citation, when the
    question asks for details (:data:`DETAILS`) and the passages of the initiative hold
    none of them; ``None`` otherwise (not such a question, a detail found, no passage)."""
    folded = fold(question)
    asked = [d for d in DETAILS if d.asked.search(folded)]
    if not asked or not passages:
        return None
    text = fold(" ".join(p.chunk.text for p in passages))
    if any(detail.found(folded, text) for detail in asked):
        return None
    first = passages[0]
    meta = first.chunk.metadata
    contact = meta.get("contact") or meta.get("acteur") or ""
    link = meta.get("lien", "")
    reach = "; ".join(part for part in (contact, link) if part)
    how = f" Contact indiqué par la fiche : {reach}." if reach else " La fiche n'indique pas de contact."
    names = " ni ".join(dict.fromkeys(d.name for d in asked))
    title = " ".join(first.chunk.title.split())
    return f"La fiche « {title} » ne précise pas {names}.{how} [{first.n}]\n\n"
