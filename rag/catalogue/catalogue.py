"""The loaded catalogue: the fiches by id, and what is derived from all of them once
(the words it contains, the place names a question may name).

One :class:`Catalogue` per index generation, owned by :class:`rag.services.Services`:
the derived data is computed on first use and lives exactly as long as the fiches it
comes from, so a re-index never serves stale names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property

from rag.catalogue.fiche import VILLE, Fiche
from rag.text import fold_spaced, squash


class Catalogue(Mapping[str, Fiche]):
    """Read-only mapping fiche id -> :class:`Fiche`, in load order."""

    def __init__(self, fiches: Iterable[Fiche]) -> None:
        self._fiches = {fiche.id: fiche for fiche in fiches}

    def __getitem__(self, fiche_id: str) -> Fiche:
        return self._fiches[fiche_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fiches)

    def __len__(self) -> int:
        return len(self._fiches)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every folded word of the catalogue: titles, sections and metadata."""
        words: set[str] = set()
        for fiche in self._fiches.values():
            values = [v for field in fiche.metadata for v in fiche.values(field)]
            for part in [fiche.title, *fiche.sections.values(), *values]:
                words.update(re.findall(r"\w+", fold_spaced(part)))
        return frozenset(words)

    @cached_property
    def place_names(self) -> dict[str, str]:
        """Squashed place name -> filter value. An address ("106 rue X, Lyon") gives its
        last part too."""
        names: dict[str, str] = {}
        for fiche in self._fiches.values():
            for value in fiche.values(VILLE):
                for candidate in (value, value.rsplit(",", 1)[-1]):
                    if squash(candidate) and not any(ch.isdigit() for ch in candidate):
                        names.setdefault(squash(candidate), candidate.strip())
        return names
