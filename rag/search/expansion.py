"""Query expansion for the lexical (BM25) side: a domain thesaurus adding weighted terms
to the question's own.

People ask in everyday words ("hôtel de ville", "comptoir", "town hall") what the fiches
name in the trade's words ("mairie", "banque d'accueil"); BM25 only matches the words
typed. The **thesaurus** (``corpus/synonyms.txt``, one group of equivalent terms per
line, loaded by :meth:`rag.services.Services.thesaurus`) adds, for every group one of
whose terms the question contains, the group's other terms at weight
:data:`SYNONYM_WEIGHT` (the question's own words weigh 1). A term of several words
counts as one: each of its words gets the weight divided by their number.

Pseudo-relevance feedback (RM3: adding the strongest terms of a first search's best
passages) was measured and dropped: it gained nothing on held-out questions
(``docs/readme/retrieval.md``, ``bench/retrieval_ablation.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import ConfigError

log = logging.getLogger(__name__)

SYNONYM_WEIGHT = 0.2
"""Weight of a thesaurus term (the question's own words weigh 1); chosen on eval/dev.jsonl
among 0.2, 0.3, 0.5, 0.7 (see ``docs/readme/retrieval.md``)."""

Analyse = Callable[[str], list[str]]


@dataclass(frozen=True)
class Thesaurus:
    """Groups of equivalent terms, each term as its analysed BM25 terms (stems)."""

    groups: tuple[tuple[tuple[str, ...], ...], ...] = ()
    _starts: dict[str, list[tuple[int, tuple[str, ...]]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Index the members by their first stem: a question is matched in one pass."""
        starts: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for number, group in enumerate(self.groups):
            for member in group:
                starts.setdefault(member[0], []).append((number, member))
        object.__setattr__(self, "_starts", starts)

    def expand(self, terms: Sequence[str], weight: float = SYNONYM_WEIGHT) -> dict[str, float]:
        """Weighted terms to add to a question analysed as ``terms``: the other members of
        every group a member of which occurs in ``terms`` (its stems consecutive), each
        member's stems sharing ``weight``; stems of the question itself are not added."""
        matched: dict[int, set[tuple[str, ...]]] = {}
        for i, term in enumerate(terms):
            for number, member in self._starts.get(term, ()):
                if tuple(terms[i:i + len(member)]) == member:
                    matched.setdefault(number, set()).add(member)
        present = set(terms)
        added: dict[str, float] = {}
        for number, found in matched.items():
            for member in self.groups[number]:
                if member in found:
                    continue
                for stem in member:
                    if stem not in present:
                        added[stem] = max(added.get(stem, 0.0), weight / len(member))
        return added


_SEPARATOR = re.compile(r"\s*,\s*")


def parse_thesaurus(text: str, analyse: Analyse, source: str = "thésaurus") -> Thesaurus:
    """Groups from the file format (one comma-separated group per line, ``#`` comments).
    A line with fewer than two usable terms is an error naming its line number (a group
    of one term expands nothing: probably a missing comma)."""
    groups = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        members = [tuple(analyse(term)) for term in _SEPARATOR.split(line) if term.strip()]
        members = list(dict.fromkeys(m for m in members if m))
        if len(members) < 2:
            raise ConfigError(f"{source}, ligne {number} : un groupe doit contenir au moins deux termes "
                              f"séparés par des virgules (« {line[:60]} »)")
        groups.append(tuple(members))
    return Thesaurus(tuple(groups))


def load_thesaurus(path: Path, analyse: Analyse) -> Thesaurus:
    """The thesaurus file at ``path``; none (no expansion, a warning) when it is missing.
    An unreadable or malformed file raises :class:`ConfigError` (French message)."""
    if not path.exists():
        log.warning("thésaurus %s absent : recherche sans synonymes", path)
        return Thesaurus()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"thésaurus {path} illisible ({exc})") from None
    return parse_thesaurus(text, analyse, str(path))
