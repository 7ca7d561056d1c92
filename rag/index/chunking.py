"""Fiche -> section chunks (one per section, split at sentence/list-item boundaries when
longer than the token budget), plus one short metadata chunk per fiche.

A piece is always a slice of the section's text (never rewritten), cut at the coarsest
boundary that fits: line (paragraph or list item), then sentence end, then space; only a
single word longer than the budget is cut by tokens. Token counts use ``rag.tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise

from rag.catalogue.fiche import (
    ACTEUR,
    AUTEUR,
    AUTRE_ACTEUR,
    CONTACT,
    ECHELLE,
    MOT_CLEF,
    PARTENAIRES,
    PLACE_FIELDS,
    TYPE_ACTEUR,
    VILLE,
    Fiche,
    slugify,
)
from rag.tokens import count_tokens, split_tokens
from rag.types import Chunk, chunk_header

METADATA_SECTION = "Fiche"
"""Section name of the metadata chunk (acteur, partenaires, ville...)."""


def chunk_fiche(fiche: Fiche, max_tokens: int) -> list[Chunk]:
    """The chunks of one fiche: each non-empty section (split when its indexed text, header
    included, exceeds ``max_tokens`` tokens), then the metadata chunk when there is any."""
    metadata = chunk_metadata(fiche)
    chunks = []
    for section, text in [*fiche.sections.items(), (METADATA_SECTION, metadata_text(fiche))]:
        header = chunk_header(fiche.title, section) + "\n"
        # a header eating the budget (absurdly long title) still leaves room for text
        limit = max(max_tokens, count_tokens(header) + max_tokens // 2)
        for part, piece in enumerate(split_text(text.strip(), limit, header)):
            chunks.append(Chunk(id=f"{fiche.id}::{slugify(section)}::{part}", fiche_id=fiche.id,
                                title=fiche.title, section=section, text=piece, metadata=metadata))
    return chunks


def chunk_metadata(fiche: Fiche) -> dict[str, str]:
    """The flat, filterable metadata every chunk of ``fiche`` carries (all keys, str values)."""
    fields = {"ville": VILLE, "echelle": ECHELLE, "type_acteur": TYPE_ACTEUR,
              "partenaires": PARTENAIRES, "acteur": ACTEUR, "contact": CONTACT,
              **{level: level for level in PLACE_FIELDS}}  # commune, departement, region
    metadata = {key: " | ".join(_distinct(fiche, field)) for key, field in fields.items()}
    return {**metadata, "lien": fiche.link}


def _distinct(fiche: Fiche, field: str) -> list[str]:
    """The non-empty values of a field, stripped, duplicates removed, order kept."""
    return list(dict.fromkeys(v.strip() for v in fiche.values(field) if v.strip()))


_METADATA_LINES = (
    ("Acteur", ACTEUR), ("Auteur de la fiche", AUTEUR), ("Partenaires", PARTENAIRES),
    ("Ville", VILLE), ("Échelle d'action", ECHELLE), ("Type d'acteur", TYPE_ACTEUR),
    ("Autre type d'acteur", AUTRE_ACTEUR), ("Mots clefs", MOT_CLEF),
)


def metadata_text(fiche: Fiche) -> str:
    """The metadata chunk's text, one French line per known field ("Acteur : Agence Grrr."),
    so that "projets de l'Agence Grrr" or "initiatives à Brest" find the fiche."""
    lines = []
    for label, field in _METADATA_LINES:
        values = _distinct(fiche, field)
        if values:
            lines.append(f"{label} : {', '.join(values)}.")
    return "\n".join(lines)


def split_text(text: str, limit: int, header: str = "") -> list[str]:
    """``text`` cut into pieces such that ``header + piece`` holds at most ``limit`` tokens,
    preferring line (paragraph, list item) boundaries, then sentence ends, then spaces;
    a single word longer than the budget is cut by tokens."""
    if not text:
        return []

    def fits(span: tuple[int, int]) -> bool:
        return count_tokens(header + text[span[0]:span[1]].strip()) <= limit

    budget = limit - count_tokens(header)
    units: list[tuple[int, int]] = []
    for line in _spans(text, _LINE_BREAK, (0, len(text))):
        if fits(line):
            units.append(line)
            continue
        for sentence in _spans(text, _SENTENCE_END, line):
            if fits(sentence):
                units.append(sentence)
                continue
            for word in _spans(text, _SPACE, sentence):
                units.extend([word] if fits(word) else _token_spans(text, word, budget))
    return _pack(text, units, fits)


_LINE_BREAK = re.compile(r"\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"»”)]*\s+(?=[«\"“(]?[A-ZÀ-ÖØ-Þ0-9-])")
_SPACE = re.compile(r"\s+")


def _spans(text: str, separator: re.Pattern, span: tuple[int, int]) -> list[tuple[int, int]]:
    """Consecutive sub-spans of ``span`` cut after each ``separator`` match; together they
    cover ``span`` exactly, so a piece is always a slice of the original text."""
    start, end = span
    cuts = [m.end() for m in separator.finditer(text, start, end) if start < m.end() < end]
    bounds = [start, *cuts, end]
    return [(a, b) for a, b in pairwise(bounds) if text[a:b].strip()]


def _token_spans(text: str, span: tuple[int, int], budget: int) -> list[tuple[int, int]]:
    """A word longer than the budget, cut by tokens (with a small margin: re-encoding a
    piece alone can cost a token or two more)."""
    spans, start = [], span[0]
    for piece in split_tokens(text[span[0]:span[1]], max(budget - 4, 1)):
        spans.append((start, start + len(piece)))
        start += len(piece)
    return spans


def _pack(text: str, units: list[tuple[int, int]], fits: Callable[[tuple[int, int]], bool]) -> list[str]:
    """Greedily merge consecutive units while the merged slice still fits."""
    pieces, current = [], units[0]
    for unit in units[1:]:
        merged = (current[0], unit[1])
        if fits(merged):
            current = merged
        else:
            pieces.append(text[current[0]:current[1]].strip())
            current = unit
    pieces.append(text[current[0]:current[1]].strip())
    return [piece for piece in pieces if piece]


def chunk_corpus(fiches: list[Fiche], max_tokens: int) -> list[Chunk]:
    """All chunks of a corpus, in fiche order."""
    return [chunk for fiche in fiches for chunk in chunk_fiche(fiche, max_tokens)]
