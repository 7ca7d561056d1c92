"""The loaded catalogue: the fiches by id, and what is derived from all of them once
(the words it contains, the place names a question may name).

One :class:`Catalogue` per index generation, owned by :class:`rag.services.Services`:
the derived data is computed on first use and lives exactly as long as the fiches it
comes from, so a re-index never serves stale names.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cached_property
from typing import NamedTuple, TypeVar

from rag.catalogue.fiche import PLACE_FIELDS, Fiche
from rag.catalogue.places import LEVELS, PlaceTable, label_parts
from rag.text import fold_spaced, squash

T = TypeVar("T")


def fiche_texts(fiche: Fiche) -> list[str]:
    """What a fiche says, as texts: its title, sections, metadata values and places."""
    values = [v for field in [*fiche.metadata, *PLACE_FIELDS] for v in fiche.values(field)]
    return [fiche.title, *fiche.sections.values(), *values]


def fiche_matches(fiche: Fiche, query: str) -> bool:
    """Does the fiche say every word of ``query`` (case- and accent-insensitive), in its
    text, metadata or place (commune, « Finistère (29) », région)? A number matches only
    a whole number (« 29 » is not in « 2029 »): the Catalogue page's search. The query's
    punctuation separates words (« mairie, brest », « Brest. », « 29, »)."""
    haystack = fold_spaced(" ".join(fiche_texts(fiche)))
    words = set(squash(haystack).split())
    return all(word in words if word.isdigit() else word in haystack for word in squash(query).split())


class PlaceName(NamedTuple):
    """What a place name of a question designates: the filter key (``commune``,
    ``departement``, ``region``), the filter value, and whether a fiche is there."""

    key: str
    value: str
    in_catalogue: bool


class Catalogue(Mapping[str, Fiche]):
    """Read-only mapping fiche id -> :class:`Fiche`, in load order. ``places``: the
    place table (``corpus/places.csv``), so that a question may name a département or
    a région that no fiche is in (and get "no initiative there" rather than a guess)."""

    def __init__(self, fiches: Iterable[Fiche], places: PlaceTable | None = None) -> None:
        self._fiches = {fiche.id: fiche for fiche in fiches}
        self._places = places or PlaceTable()
        self._derived: dict[str, object] = {}
        self._lock = threading.Lock()

    def derived(self, name: str, build: Callable[[], T]) -> T:
        """``build()``, computed once for this catalogue and kept with it: what higher
        layers derive from all the fiches (abstention's vocabulary vectors, centroid) lives
        exactly as long as the fiches, like :attr:`vocabulary`."""
        with self._lock:
            if name not in self._derived:
                self._derived[name] = build()
            return self._derived[name]  # type: ignore[return-value]

    def has_derived(self, name: str) -> bool:
        """Whether :meth:`derived` already holds ``name`` (built at start-up, or by an
        earlier question)."""
        with self._lock:
            return name in self._derived

    def __getitem__(self, fiche_id: str) -> Fiche:
        return self._fiches[fiche_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fiches)

    def __len__(self) -> int:
        return len(self._fiches)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every folded word of the catalogue: titles, sections, metadata and places."""
        words: set[str] = set()
        for fiche in self._fiches.values():
            for part in fiche_texts(fiche):
                words.update(re.findall(r"\w+", fold_spaced(part)))
        return frozenset(words)

    @cached_property
    def place_values(self) -> dict[str, frozenset[str]]:
        """Level -> the squashed place values of the fiches (``"finistere 29"``)."""
        return {level: frozenset(squash(v) for f in self._fiches.values() for v in f.values(level))
                for level in PLACE_FIELDS}

    @cached_property
    def place_names(self) -> dict[str, PlaceName]:
        """Squashed place name -> what it designates: every name and alias of the place
        table, then the fiches' own places (a département by its name: "finistere")."""
        names: dict[str, PlaceName] = {}
        for level in reversed(LEVELS):  # narrowest last: "Paris" is the commune
            for name, place in self._places.names[level].items():
                value = getattr(place, level)
                names[name] = PlaceName(level, value, squash(value) in self.place_values[level])
        for level in reversed(LEVELS):
            for fiche in self._fiches.values():
                for value in fiche.values(level):
                    names[squash(label_parts(value)[0])] = PlaceName(level, value, True)
        return names

    @cached_property
    def departement_codes(self) -> dict[str, PlaceName]:
        """Département number (``"29"``, ``"2a"``) -> its place name (table and fiches)."""
        codes = {code: PlaceName("departement", place.departement,
                                 squash(place.departement) in self.place_values["departement"])
                 for code, place in self._places.codes.items()}
        for fiche in self._fiches.values():
            _, code = label_parts(fiche.departement)
            if code:
                codes[code.casefold()] = PlaceName("departement", fiche.departement, True)
        return codes
