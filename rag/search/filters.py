"""Metadata filters: which keys exist, how a value matches, values inferred from a
question ("à Nantes" -> ville=Nantes) and the values offered as chips in the UI.

Matching is case- and accent-insensitive and works on each element of a multi-valued
field (chunk metadata joins them with " | "): a wanted value matches an element equal
to it or containing it as whole words ("Lyon" matches "106 rue Pierre Corneille, Lyon",
"DETEA" matches "Agence DETEA").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rag.catalogue.catalogue import Catalogue
from rag.catalogue.fiche import ECHELLE, PARTENAIRES, TYPE_ACTEUR, VILLE, Fiche
from rag.errors import InputError
from rag.text import squash
from rag.types import Chunk


class FilterField(NamedTuple):
    """A filter key: the chunk metadata key it reads, the fiche field, a French label."""

    chunk_key: str
    fiche_field: str
    label: str


FILTER_FIELDS: dict[str, FilterField] = {
    "ville": FilterField("ville", VILLE, "Ville"),
    "echelle": FilterField("echelle", ECHELLE, "Échelle d'action"),
    "type_acteur": FilterField("type_acteur", TYPE_ACTEUR, "Type d'acteur"),
    "partenaire": FilterField("partenaires", PARTENAIRES, "Partenaire"),
}

_LOCATIVE = r"(?:a|en|au|aux|dans|sur|vers|pres de|autour de|ville de|region|in|near)"
"""Words that announce a place, folded: "à Nantes", "en Bretagne", "in Brest"."""


def check_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user filters: known keys, non-empty values (else :class:`InputError`)."""
    checked: dict[str, str] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS:
            raise InputError(f"unknown filter '{key}'; valid filters: {', '.join(FILTER_FIELDS)}")
        if not isinstance(value, str) or not squash(value):
            raise InputError(f"filter '{key}' needs a value, e.g. {key}=…")
        checked[key] = value.strip()
    return checked


def value_matches(wanted: str, stored: str) -> bool:
    """Does one element of ``stored`` (" | "-joined) equal or contain ``wanted`` as words?"""
    target = squash(wanted)
    pattern = re.compile(rf"(?<!\w){re.escape(target)}(?!\w)")
    return any(pattern.search(squash(element)) for element in stored.split(" | "))


def chunk_matches(chunk: Chunk, filters: Mapping[str, str]) -> bool:
    """True when the chunk satisfies every filter (checked keys only)."""
    return all(
        value_matches(value, chunk.metadata.get(FILTER_FIELDS[key].chunk_key, ""))
        for key, value in filters.items()
    )


def facet_values(fiches: Iterable[Fiche]) -> dict[str, list[str]]:
    """For each filter key, the distinct values of the catalogue (first spelling kept),
    sorted alphabetically ignoring case and accents: the UI's chips."""
    facets: dict[str, dict[str, str]] = {key: {} for key in FILTER_FIELDS}
    for fiche in fiches:
        for key, field in FILTER_FIELDS.items():
            for value in fiche.values(field.fiche_field):
                if squash(value):
                    facets[key].setdefault(squash(value), value.strip())
    return {key: [seen[k] for k in sorted(seen)] for key, seen in facets.items()}


def infer_filters(question: str, catalogue: Catalogue) -> dict[str, str]:
    """Filters a question states itself: a known ville after a place word ("à Nantes",
    "en Bretagne", "in Brest"). Two different places -> no filter (the user compares)."""
    text = squash(question)
    found: dict[str, str] = {}
    for name, value in catalogue.place_names.items():
        match = re.search(rf"(?<!\w){_LOCATIVE} (?:la |le |l )?({re.escape(name)})(?!\w)", text)
        if match:
            found[name] = value
    # "Saint Méen le Grand" also contains a shorter known name: keep the longest only.
    names = [n for n in found if not any(n != other and n in other for other in found)]
    return {"ville": found[names[0]]} if len(names) == 1 else {}
