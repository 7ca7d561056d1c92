"""Import a raw export of fiches: decode it, clean its lines, find the fiches from its
structure (:mod:`rag.catalogue.export_parser`), build them (repeats dropped, ids
unique), place them (commune, département, région) and write them, all or nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.catalogue.cleaning import clean_line, dedup_lines
from rag.catalogue.corpus import load_corpus, write_fiches
from rag.catalogue.export_format import classify, decode_export
from rag.catalogue.export_parser import Draft, ExportParser
from rag.catalogue.fiche import MULTI_VALUED, Fiche, slugify
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


@dataclass
class ImportReport:
    """What an import produced: fiches, warnings (``path:line: message``), removals by kind."""

    fiches: list[Fiche] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def _build(draft: Draft, removed: Counter[str]) -> Fiche:
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


def _assign_ids(drafts: list[Draft], report: ImportReport, removed: Counter[str], source: str,
                existing: Mapping[str, str]) -> None:
    """Build the fiches, drop exact duplicate fiches, give colliding slugs -2, -3…

    ``existing`` (id -> title of the catalogue's files) keeps ids stable across exports:
    an id whose file holds another title is taken, so a later export holding only the
    second of two slug twins updates ``x-2``, not ``x``."""
    used: dict[str, Fiche] = {}
    warn = report.warnings.append
    for draft in drafts:
        fiche = _build(draft, removed)
        base, n = fiche.id, 1
        while fiche.id in used or existing.get(fiche.id, fiche.title) != fiche.title:
            if fiche.id in used and used[fiche.id].model_dump(exclude={"id"}) == fiche.model_dump(exclude={"id"}):
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
                 places: PlaceTable | None = None, existing: Mapping[str, str] | None = None) -> ImportReport:
    """Split an export's text into clean fiches, each placed (commune, département,
    région) from ``places`` when given, ids kept apart from ``existing`` fiches of
    another title (see :func:`_assign_ids`). No fiche at all raises :class:`ImportFailed`."""
    removed: Counter[str] = Counter()
    lines = []
    for no, raw in enumerate(text.split("\n"), start=1):
        cleaned = clean_line(raw.strip(), denylist, removed) if raw.strip() else None
        if cleaned:
            lines.append(classify(no, cleaned))
    parser = ExportParser(lines, source, removed)
    drafts = parser.run()
    report = ImportReport(warnings=parser.warnings)
    _assign_ids(drafts, report, removed, source, existing or {})
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
    existing = {fiche.id: fiche.title for fiche in load_corpus(out_dir).fiches}  # a killed import's folder restored
    report = parse_export(text, load_denylist(denylist_path), source=str(path), places=places,
                          existing=existing)
    report.warnings[:0] = warnings
    try:
        report.written = write_fiches(report.fiches, out_dir)
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"écriture impossible dans {out_dir} ({exc}) : rien n'a été modifié") from None
    return report
