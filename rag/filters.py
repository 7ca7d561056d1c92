"""Metadata filters: which keys exist, how a value matches, values inferred from a
question ("à Nantes" -> ville=Nantes) and the values offered as chips in the UI.

Matching is case- and accent-insensitive and works on each element of a multi-valued
field (chunk metadata joins them with " | "): a wanted value matches an element equal
to it or containing it as whole words ("Lyon" matches "106 rue Pierre Corneille, Lyon",
"DETEA" matches "Agence DETEA").
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rag.chunking import Chunk
from rag.errors import InputError
from rag.fiche import ECHELLE, PARTENAIRES, TYPE_ACTEUR, VILLE, Fiche
from rag.text import fold_spaced


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


def _squash(text: str) -> str:
    """Folded text with punctuation as spaces, single-spaced: the matching form."""
    return " ".join(re.sub(r"[^\w]+", " ", fold_spaced(text)).split())


def check_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user filters: known keys, non-empty values (else :class:`InputError`)."""
    checked: dict[str, str] = {}
    for key, value in (filters or {}).items():
        if key not in FILTER_FIELDS:
            raise InputError(f"unknown filter '{key}'; valid filters: {', '.join(FILTER_FIELDS)}")
        if not isinstance(value, str) or not _squash(value):
            raise InputError(f"filter '{key}' needs a value, e.g. {key}=…")
        checked[key] = value.strip()
    return checked


def value_matches(wanted: str, stored: str) -> bool:
    """Does one element of ``stored`` (" | "-joined) equal or contain ``wanted`` as words?"""
    target = _squash(wanted)
    pattern = re.compile(rf"(?<!\w){re.escape(target)}(?!\w)")
    return any(pattern.search(_squash(element)) for element in stored.split(" | "))


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
                if _squash(value):
                    facets[key].setdefault(_squash(value), value.strip())
    return {key: [seen[k] for k in sorted(seen)] for key, seen in facets.items()}


_places: dict[tuple[str, ...], dict[str, str]] = {}
_places_lock = threading.Lock()


def _place_names(fiches: Iterable[Fiche]) -> dict[str, str]:
    """Folded place name -> filter value (do not mutate: cached). An address ("106 rue X,
    Lyon") gives its last part. Cached for the catalogue's ville values, in order: the
    names depend on nothing else, and callers pass a fresh ``values()`` view each time."""
    villes = tuple(value for fiche in fiches for value in fiche.values(VILLE))
    with _places_lock:
        cached = _places.get(villes)
        if cached is not None:
            return cached
        names: dict[str, str] = {}
        for value in villes:
            for candidate in (value, value.rsplit(",", 1)[-1]):
                if _squash(candidate) and not any(ch.isdigit() for ch in candidate):
                    names.setdefault(_squash(candidate), candidate.strip())
        _places.clear()  # one catalogue at a time: a re-index replaces it
        _places[villes] = names
        return names


def infer_filters(question: str, fiches: Iterable[Fiche]) -> dict[str, str]:
    """Filters a question states itself: a known ville after a place word ("à Nantes",
    "en Bretagne", "in Brest"). Two different places -> no filter (the user compares)."""
    text = _squash(question)
    found: dict[str, str] = {}
    for name, value in _place_names(fiches).items():
        match = re.search(rf"(?<!\w){_LOCATIVE} (?:la |le |l )?({re.escape(name)})(?!\w)", text)
        if match:
            found[name] = value
    # "Saint Méen le Grand" also contains a shorter known name: keep the longest only.
    names = [n for n in found if not any(n != other and n in other for other in found)]
    return {"ville": found[names[0]]} if len(names) == 1 else {}
