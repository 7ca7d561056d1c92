"""The structure of a raw export: which line starts a fiche, where each line goes.

The export form: each fiche is a title line (usually written twice), then section
headings (Description, Enjeux, …) each followed by text lines, then metadata labels
(Nom de l'acteur, Ville, …) each followed by zero or more value lines; "Pour aller plus
loin" may come after the metadata. Paragraphs, list items and values are often doubled.

A line starts a new fiche when it looks like a title, its copies (if any) follow it, and
the next line is a section heading other than "Pour aller plus loin", and:

- we are at the start of the export (or after a skipped broken part); or
- the title is doubled, and we are in the metadata part of the current fiche, or that
  heading already appeared in it (or comes before the current one in the usual order); or
- the title is a single line in the metadata part, before an opening heading
  (Description, Enjeux) or one already seen.

Titles we happen to know are never used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rag.catalogue.export_format import (
    HEADING,
    LABEL,
    TEXT,
    Line,
    ends_paragraph,
    looks_like_heading,
    looks_like_title,
)
from rag.catalogue.fiche import SECTIONS

MORE = "Pour aller plus loin"
"""The one section that may follow the metadata, and never marks a new fiche."""

OPENING = ("Description", "Enjeux")
"""Headings a fiche opens with: after metadata, a single line before one is a title."""


@dataclass
class Draft:
    """A fiche being read: its blocks keyed ``("section"|"field", name)``, in order."""

    title: str
    no: int
    blocks: dict[tuple[str, str], list[Line]] = field(default_factory=dict)
    target: tuple[str, str] | None = None
    in_metadata: bool = False

    def open(self, key: tuple[str, str]) -> None:
        """Make ``key`` the block receiving the next text lines."""
        self.blocks.setdefault(key, [])
        self.target = key

    def current(self) -> list[Line]:
        """The lines of the block being filled: a draft opens on the heading or label that
        follows its title (see :meth:`ExportParser._title_end`), so there always is one."""
        if self.target is None:
            raise AssertionError("a draft opens on a heading or a label")
        return self.blocks[self.target]

    def fresh(self, key: tuple[str, str]) -> bool:
        """True when ``key`` is the current block and has no line yet (a doubled heading)."""
        return self.target == key and not self.blocks.get(key)


def _rank(heading: str) -> int:
    """Position of a heading in the usual order (unknown headings rank first)."""
    return SECTIONS.index(heading) if heading in SECTIONS else -1


class ExportParser:
    """One pass over the cleaned lines of an export, building drafts of fiches."""

    def __init__(self, lines: list[Line], source: str, removed: Counter[str]) -> None:
        self.lines, self.source, self.removed = lines, source, removed
        self.warnings: list[str] = []
        self.drafts: list[Draft] = []
        self.draft: Draft | None = None
        self.orphans: list[Line] = []

    def warn(self, no: int, message: str) -> None:
        self.warnings.append(f"{self.source}:{no}: {message}")

    def run(self) -> list[Draft]:
        i = 0
        while i < len(self.lines):
            end = self._title_end(i)
            if end is None:
                self._feed(i)
                i += 1
                continue
            self._flush_orphans()
            self.removed["doubled_title"] += end - i - 1
            if end - i == 1:
                self._check_single_title(self.lines[i])
            self.draft = Draft(self.lines[i].text, self.lines[i].no)
            self.drafts.append(self.draft)
            i = end
        self._flush_orphans()
        return self.drafts

    def _title_end(self, i: int) -> int | None:
        """Index of the heading after the title starting at ``i``, or ``None`` if no title."""
        line, lines, draft = self.lines[i], self.lines, self.draft
        strict = draft is None or not draft.in_metadata
        if line.kind != TEXT or not looks_like_title(line.text, strict):
            return None
        j = i
        while j + 1 < len(lines) and lines[j + 1].text == line.text:
            j += 1
        if j + 1 < len(lines) and self._opens_fiche(lines[j + 1], doubled=j > i):
            return j + 1
        return None

    def _check_single_title(self, title: Line) -> None:
        """Warn when a single title line leaves the field before it empty: it may be that
        field's value, and the next fiche's title missing from the export."""
        draft = self.draft
        if draft is not None and draft.target and draft.target[0] == "field" and not draft.current():
            self.warn(title.no, f"« {title.text} » lu comme le titre d'une nouvelle fiche : le champ "
                      f"« {draft.target[1]} » de « {draft.title} » reste vide ; si c'était sa valeur, "
                      "le titre de la fiche suivante manque dans l'export")

    def _opens_fiche(self, after: Line, doubled: bool) -> bool:
        """Does ``after``, the line after a title candidate (and its copies), open a fiche?"""
        draft = self.draft
        if draft is None:
            return after.kind == HEADING or (doubled and after.kind == LABEL)
        if after.kind == LABEL:
            return doubled and draft.in_metadata and ("field", after.name) in draft.blocks
        if after.kind != HEADING or after.name == MORE:
            return False
        current = draft.target[1] if draft.target else ""
        seen = ("section", after.name) in draft.blocks or _rank(after.name) <= _rank(current)
        if doubled:
            return draft.in_metadata or seen
        return draft.in_metadata and (seen or after.name in OPENING)

    def _feed(self, i: int) -> None:
        """Route one line that does not start a fiche."""
        line, draft = self.lines[i], self.draft
        if draft is None:
            self.orphans.append(line)
        elif line.kind == HEADING:
            self._heading(line, draft)
        elif line.kind == LABEL:
            self._label(line, draft)
        elif self._unknown_heading(i, draft):
            self.warn(line.no, f"rubrique inconnue « {line.text} » gardée comme section")
            draft.open(("section", line.text))
        else:
            draft.current().append(line)

    def _heading(self, line: Line, draft: Draft) -> None:
        key = ("section", line.name)
        if draft.fresh(key):
            self.removed["repeated_line"] += 1
            return
        if key in draft.blocks and draft.in_metadata:
            self.warn(line.no, f"rubrique « {line.name} » répétée sans titre de fiche reconnaissable "
                      "avant : fiche ignorée jusqu'au titre suivant (ajoutez son titre dans l'export)")
            self.draft = None
            self.orphans.append(line)
            return
        if key in draft.blocks:
            self.warn(line.no, f"rubrique « {line.name} » répétée dans « {draft.title} » : textes réunis")
        elif draft.in_metadata and line.name != MORE:
            self.warn(line.no, f"rubrique « {line.name} » après les métadonnées, "
                      f"rattachée à « {draft.title} »")
        draft.open(key)

    def _label(self, line: Line, draft: Draft) -> None:
        key = ("field", line.name)
        draft.in_metadata = True
        if draft.fresh(key):
            self.removed["repeated_line"] += 1
            return
        if key in draft.blocks:
            self.warn(line.no, f"champ « {line.name} » répété dans « {draft.title} » : valeurs réunies")
        draft.open(key)

    def _unknown_heading(self, i: int, draft: Draft) -> bool:
        """A short heading-like line between a finished paragraph and a longer text line."""
        line, lines = self.lines[i], self.lines
        if draft.in_metadata or not looks_like_heading(line.text) or i + 1 >= len(lines):
            return False
        previous, after = draft.current(), lines[i + 1]
        return (
            bool(previous)
            and ends_paragraph(previous[-1].text)
            and after.kind == TEXT
            and len(after.text) > len(line.text)
            and (ends_paragraph(after.text) or len(after.text.split()) > 8)
        )

    def _flush_orphans(self) -> None:
        if self.orphans:
            first, last = self.orphans[0].no, self.orphans[-1].no
            self.warn(first, f"{len(self.orphans)} ligne(s) hors fiche ignorée(s) (lignes {first}-{last})")
            self.orphans = []
