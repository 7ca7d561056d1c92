"""Import a raw export of fiches: find the fiches from the export's structure, clean them.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.catalogue.cleaning import clean_line, dedup_lines
from rag.catalogue.corpus import write_fiches
from rag.catalogue.export_format import (
    HEADING,
    LABEL,
    TEXT,
    Line,
    classify,
    decode_export,
    ends_paragraph,
    looks_like_heading,
    looks_like_title,
)
from rag.catalogue.fiche import MULTI_VALUED, SECTIONS, Fiche, slugify
from rag.catalogue.places import PlaceTable, load_places, place_fiche
from rag.catalogue.spam import load_denylist
from rag.errors import ImportFailed

REMOVAL_LABELS = {
    "doubled_title": "copies de titre",
    "repeated_line": "lignes répétées",
    "repeated_run": "dont blocs de lignes répétés",
    "spam_line": "lignes de spam",
    "spam_url": "liens de spam",
    "empty_link": "liens vides",
    "repeated_fiche": "fiches en double",
}
"""French wording of the removal kinds; ``repeated_run`` counts blocks already counted as lines."""

MORE = "Pour aller plus loin"
"""The one section that may follow the metadata, and never marks a new fiche."""

OPENING = ("Description", "Enjeux")
"""Headings a fiche opens with: after metadata, a single line before one is a title."""


@dataclass
class ImportReport:
    """What an import produced: fiches, warnings (``path:line: message``), removals by kind."""

    fiches: list[Fiche] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


@dataclass
class _Draft:
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

    def fresh(self, key: tuple[str, str]) -> bool:
        """True when ``key`` is the current block and has no line yet (a doubled heading)."""
        return self.target == key and not self.blocks.get(key)


def _rank(heading: str) -> int:
    """Position of a heading in the usual order (unknown headings rank first)."""
    return SECTIONS.index(heading) if heading in SECTIONS else -1


class _Parser:
    """One pass over the cleaned lines of an export, building drafts of fiches."""

    def __init__(self, lines: list[Line], source: str, removed: Counter[str]) -> None:
        self.lines, self.source, self.removed = lines, source, removed
        self.warnings: list[str] = []
        self.drafts: list[_Draft] = []
        self.draft: _Draft | None = None
        self.orphans: list[Line] = []

    def warn(self, no: int, message: str) -> None:
        self.warnings.append(f"{self.source}:{no}: {message}")

    def run(self) -> list[_Draft]:
        i = 0
        while i < len(self.lines):
            end = self._title_end(i)
            if end is None:
                self._feed(i)
                i += 1
                continue
            self._flush_orphans()
            self.removed["doubled_title"] += end - i - 1
            self.draft = _Draft(self.lines[i].text, self.lines[i].no)
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
            draft.blocks[draft.target].append(line)

    def _heading(self, line: Line, draft: _Draft) -> None:
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

    def _label(self, line: Line, draft: _Draft) -> None:
        key = ("field", line.name)
        draft.in_metadata = True
        if draft.fresh(key):
            self.removed["repeated_line"] += 1
            return
        if key in draft.blocks:
            self.warn(line.no, f"champ « {line.name} » répété dans « {draft.title} » : valeurs réunies")
        draft.open(key)

    def _unknown_heading(self, i: int, draft: _Draft) -> bool:
        """A short heading-like line between a finished paragraph and a longer text line."""
        line, lines = self.lines[i], self.lines
        if draft.in_metadata or not looks_like_heading(line.text) or i + 1 >= len(lines):
            return False
        previous, after = draft.blocks[draft.target], lines[i + 1]
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


def _build(draft: _Draft, removed: Counter[str]) -> Fiche:
    """The fiche of a draft: repeats dropped, empty blocks omitted, multi-valued as lists."""
    sections: dict[str, str] = {}
    metadata: dict[str, str | list[str]] = {}
    for (kind, name), lines in draft.blocks.items():
        texts = dedup_lines((line.text for line in lines), removed)
        if not texts:
            continue
        if kind == "section":
            sections[name] = "\n".join(texts)
        else:
            metadata[name] = texts if name in MULTI_VALUED else "\n".join(texts)
    return Fiche(id=slugify(draft.title), title=draft.title, sections=sections, metadata=metadata)


def _assign_ids(drafts: list[_Draft], report: ImportReport, removed: Counter[str], source: str) -> None:
    """Build the fiches, drop exact duplicate fiches, give colliding slugs -2, -3…"""
    used: dict[str, Fiche] = {}
    warn = report.warnings.append
    for draft in drafts:
        fiche = _build(draft, removed)
        base, n = fiche.id, 1
        while fiche.id in used:
            if used[fiche.id].model_dump(exclude={"id"}) == fiche.model_dump(exclude={"id"}):
                removed["repeated_fiche"] += 1
                warn(f"{source}:{draft.no}: fiche « {fiche.title} » en double, ignorée")
                break
            n += 1
            fiche = fiche.model_copy(update={"id": f"{base}-{n}"})
        else:
            if n > 1:
                warn(f"{source}:{draft.no}: id « {base} » déjà pris, fiche enregistrée sous « {fiche.id} »")
            if not fiche.sections:
                warn(f"{source}:{draft.no}: fiche « {fiche.title} » : toutes les rubriques sont vides")
            used[fiche.id] = fiche
            report.fiches.append(fiche)


def parse_export(text: str, denylist: Sequence[str], source: str = "<export>",
                 places: PlaceTable | None = None) -> ImportReport:
    """Split an export's text into clean fiches, each placed (commune, département,
    région) from ``places`` when given. No fiche at all raises :class:`ImportFailed`."""
    removed: Counter[str] = Counter()
    lines = []
    for no, raw in enumerate(text.split("\n"), start=1):
        cleaned = clean_line(raw.strip(), denylist, removed) if raw.strip() else None
        if cleaned:
            lines.append(classify(no, cleaned))
    parser = _Parser(lines, source, removed)
    drafts = parser.run()
    report = ImportReport(warnings=parser.warnings)
    _assign_ids(drafts, report, removed, source)
    if not report.fiches:
        raise ImportFailed(
            f"aucune fiche trouvée dans {source} : un export commence par le titre d'une fiche "
            "suivi d'une rubrique (Description, Enjeux…) ; vérifiez le fichier"
        )
    report.removed = dict(sorted(removed.items()))
    if places is not None:
        for index, fiche in enumerate(report.fiches):
            report.fiches[index], warning = place_fiche(fiche, places)
            if warning:
                report.warnings.append(f"{source}: {warning}")
    return report


def import_export(path: Path | str, out_dir: Path | str, denylist_path: Path | str,
                  places_path: Path | str | None = None) -> ImportReport:
    """Import one export file into ``out_dir`` (one ``<id>.md`` per fiche), all or nothing.

    Fiches with the same id are updated, other files of ``out_dir`` are kept. With
    ``places_path`` (``corpus/places.csv``), each fiche gets its commune, département
    and région; a place missing from the table is a warning, not an error.
    """
    path, out_dir = Path(path), Path(out_dir)
    if not path.is_file():
        what = "est un dossier" if path.is_dir() else "est introuvable"
        raise ImportFailed(f"l'export {path} {what} : donnez le chemin d'un fichier d'export .txt")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"lecture impossible de {path} ({exc.strerror}) : vérifiez ses droits") from None
    text, warnings = decode_export(data, str(path))
    if not Path(denylist_path).is_file():
        warnings.append(f"{denylist_path}:0: liste de spam introuvable, aucun spam filtré")
    places = load_places(places_path) if places_path is not None else None
    if places_path is not None and not Path(places_path).is_file():
        warnings.append(f"{places_path}:0: table des lieux introuvable, fiches importées sans département ni région")
    report = parse_export(text, load_denylist(denylist_path), source=str(path), places=places)
    report.warnings[:0] = warnings
    try:
        report.written = write_fiches(report.fiches, out_dir)
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"écriture impossible dans {out_dir} ({exc}) : rien n'a été modifié") from None
    return report
