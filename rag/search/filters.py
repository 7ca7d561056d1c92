"""Metadata filters: which keys exist, how a value matches, values inferred from a
question ("à Nantes" -> commune=Nantes, "dans le 29" -> departement=Finistère (29),
"en Bretagne" -> region=Bretagne) and the values offered as chips in the UI.

Matching is case- and accent-insensitive and works on each element of a multi-valued
field (chunk metadata joins them with " | "): a wanted value matches an element equal
to it or containing it as whole words ("DETEA" matches "Agence DETEA", "29" matches
"Finistère (29)"). A wanted value may list alternatives joined by " | " ("Bretagne |
Pays de la Loire"): any of them matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from rag.catalogue.catalogue import Catalogue, PlaceName
from rag.catalogue.fiche import (
    COMMUNE,
    DEPARTEMENT,
    ECHELLE,
    PARTENAIRES,
    PLACE_FIELDS,
    REGION,
    TYPE_ACTEUR,
    Fiche,
)
from rag.errors import InputError
from rag.text import squash
from rag.types import Chunk


class FilterField(NamedTuple):
    """A filter key: the chunk metadata key it reads, the fiche field, a French label."""

    chunk_key: str
    fiche_field: str
    label: str


FILTER_FIELDS: dict[str, FilterField] = {
    "commune": FilterField("commune", COMMUNE, "Commune"),
    "departement": FilterField("departement", DEPARTEMENT, "Département"),
    "region": FilterField("region", REGION, "Région"),
    "echelle": FilterField("echelle", ECHELLE, "Échelle d'action"),
    "type_acteur": FilterField("type_acteur", TYPE_ACTEUR, "Type d'acteur"),
    "partenaire": FilterField("partenaires", PARTENAIRES, "Partenaire"),
}
"""Every filter, defined once: the CLI, the chips and the answer's filter line use these
keys and labels."""

ALIASES = {"ville": "commune"}
"""Older filter names still accepted (``--filter ville=Nantes``)."""

ALTERNATIVES = " | "

_LOCATIVES = frozenset({"a", "en", "au", "aux", "dans", "sur", "vers", "pres", "autour", "ville", "region",
                        "departement", "in", "near"})
"""Words that announce a place, folded: "à Nantes", "en Bretagne", "in Brest"."""
_ARTICLES = frozenset({"le", "la", "l", "les", "de", "du", "des", "d"})
"""Words allowed between the announcing word and the place ("dans le Finistère",
"près de Brest", "département du Finistère")."""
_NUMBER = re.compile(r"(?<!\w)(?:(?:dans|sur) le|departement(?: du)?) (\d{2}|2a|2b|97\d)(?!\w)")
"""A département by its number: "dans le 29", "département du 35" (on squashed words)."""


def filter_label(key: str, value: str) -> str:
    """``Commune : Nantes`` (plain text): a filter as the chips and the conversation
    export name it (an alias or an unknown key is named by itself)."""
    field = FILTER_FIELDS.get(ALIASES.get(key, key))
    return f"{field.label if field else key} : {value}"


def check_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    """Validate user filters: known keys (or an alias), non-empty values (else :class:`InputError`)."""
    checked: dict[str, str] = {}
    for key, value in (filters or {}).items():
        if ALIASES.get(key, key) not in FILTER_FIELDS:
            raise InputError(f"filtre inconnu « {key[:50]} » ; filtres valides : {', '.join(FILTER_FIELDS)}")
        if not isinstance(value, str) or not squash(value):
            raise InputError(f"le filtre « {key} » n'a pas de valeur (par ex. {key}=…)")
        checked[ALIASES.get(key, key)] = value.strip()
    return checked


def inferred_part(applied: Mapping[str, str], chosen: Mapping[str, str]) -> dict[str, str]:
    """The applied filters the user did not choose: those deduced from the question
    (shown as removable chips, stored with the turn)."""
    return {key: value for key, value in applied.items() if chosen.get(key) != value}


def value_matches(wanted: str, stored: str) -> bool:
    """Does one element of ``stored`` (" | "-joined) equal or contain one alternative of
    ``wanted`` as words?"""
    elements = [squash(element) for element in stored.split(" | ")]
    for alternative in wanted.split(ALTERNATIVES):
        target = squash(alternative)
        pattern = re.compile(rf"(?<!\w){re.escape(target)}(?!\w)")
        if target and any(pattern.search(element) for element in elements):
            return True
    return False


def chunk_matches(chunk: Chunk, filters: Mapping[str, str]) -> bool:
    """True when the chunk satisfies every filter (checked keys only)."""
    return all(
        value_matches(value, chunk.metadata.get(FILTER_FIELDS[key].chunk_key, ""))
        for key, value in filters.items()
    )


def fiche_matches(fiche: Fiche, filters: Mapping[str, str]) -> bool:
    """True when the fiche satisfies every filter (checked keys only)."""
    return all(any(value_matches(value, stored) for stored in fiche.values(FILTER_FIELDS[key].fiche_field))
               for key, value in filters.items())


def facet_values(fiches: Iterable[Fiche] | Mapping[str, Fiche]) -> dict[str, list[str]]:
    """For each filter key, the distinct values of the catalogue (first spelling kept),
    sorted alphabetically ignoring case and accents: the UI's chips (and the Catalogue
    page's charts by région). Takes fiches or a :class:`Catalogue`."""
    facets: dict[str, dict[str, str]] = {key: {} for key in FILTER_FIELDS}
    for fiche in fiches.values() if isinstance(fiches, Mapping) else fiches:
        for key, field in FILTER_FIELDS.items():
            for value in fiche.values(field.fiche_field):
                if squash(value):
                    facets[key].setdefault(squash(value), value.strip())
    return {key: [seen[k] for k in sorted(seen)] for key, seen in facets.items()}


class _Found(NamedTuple):
    start: int
    end: int
    place: PlaceName


def _announced(words: list[str], start: int) -> bool:
    """Is the place starting at word ``start`` announced by a locative (articles skipped)?"""
    i = start - 1
    while i >= 0 and words[i] in _ARTICLES:
        i -= 1
    return i >= 0 and words[i] in _LOCATIVES


def find_places(question: str, catalogue: Catalogue) -> list[PlaceName]:
    """The places a question names after a locative, longest names first, each once. A
    place of the table that no fiche has counts only when capitalised ("en somme" is
    not the Somme); the catalogue's own places match in any case."""
    tokens = list(re.finditer(r"\w+", question))
    words = [squash(t.group()) for t in tokens]
    found: list[_Found] = []
    for name, place in catalogue.place_names.items():
        size = len(name.split())
        for start in range(len(words) - size + 1):
            if " ".join(words[start:start + size]) != name or not _announced(words, start):
                continue
            if place.in_catalogue or tokens[start].group()[0].isupper():
                found.append(_Found(start, start + size, place))
    joined = " ".join(words)
    for match in _NUMBER.finditer(joined):
        coded = catalogue.departement_codes.get(match.group(1))
        if coded:
            position = len(joined[: match.start(1)].split())
            found.append(_Found(position, position + 1, coded))
    kept = [f for f in found if not any(o != f and o.start <= f.start and f.end <= o.end
                                        and o.end - o.start > f.end - f.start for o in found)]
    return list(dict.fromkeys(f.place for f in sorted(kept, key=lambda f: f.start)))


def infer_filters(question: str, catalogue: Catalogue) -> dict[str, str]:
    """Filters a question states itself: the places it names after a locative ("à
    Nantes", "dans le 29", "en Bretagne ou en Pays de la Loire": alternatives of one
    level). Places of different levels are kept together only when some fiche is in
    all of them ("à Brest, dans le Finistère"); otherwise the user compares places and
    no filter is inferred."""
    levels: dict[str, list[str]] = {}
    for place in find_places(question, catalogue):
        levels.setdefault(place.key, []).append(place.value)
    filters = {key: ALTERNATIVES.join(dict.fromkeys(values)) for key, values in levels.items()}
    if len(filters) > 1 and not any(fiche_matches(f, filters) for f in catalogue.values()):
        return {}
    return filters


def has_place(filters: Mapping[str, str]) -> bool:
    """Whether the filters name a place (commune, département or région)."""
    return any(key in PLACE_FIELDS for key in filters)


LISTING_MAX = 20
"""At most this many passages when a place filter widens the search (see :func:`place_depth`)."""


def place_depth(filters: Mapping[str, str], catalogue: Catalogue, k: int, per_fiche: int) -> int:
    """How many passages to retrieve so that every initiative of a filtered place can be
    among them (``per_fiche`` each, at most :data:`LISTING_MAX`): "initiatives en
    Bretagne" must list the four, not the first three. ``k`` without a place filter."""
    if not has_place(filters):
        return k
    count = sum(fiche_matches(fiche, filters) for fiche in catalogue.values())
    return max(k, min(LISTING_MAX, count * per_fiche))
