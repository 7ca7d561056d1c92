"""Places: the editable place table (``corpus/places.csv``) and how a fiche's ``Ville``
becomes its commune, département and région.

The table (documented in its header comment) has one row per commune, département and
région; names and aliases compare ignoring case, accents, hyphens and punctuation
(:func:`rag.text.squash`). A département is shown and stored as ``"Finistère (29)"``, so
both its name and its number match a filter.

:func:`locate` reads a ``Ville`` value as the export has it: a commune ("Brest"), an
address ("106 rue Pierre Corneille, 69003 Lyon": the part after the last comma, or the
postal code's département), a département ("vendée") or a région ("Bretagne").
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.catalogue.fiche import PLACE_FIELDS, VILLE, Fiche
from rag.errors import CorpusError
from rag.text import squash

log = logging.getLogger(__name__)

LEVELS = PLACE_FIELDS
"""The three levels, narrowest first (also the front-matter keys and the filter keys)."""

COLUMNS = ["niveau", "nom", "code", "departement", "region", "alias"]

_LABEL = re.compile(r"^(.*?)\s*\((\w{1,3})\)$")
_POSTAL = re.compile(r"\b(\d{5})\b")
_ARRONDISSEMENT = re.compile(r"\s+\d{1,2}\s*(?:e|er|eme|ème)(?:\s+arrondissement)?$", re.IGNORECASE)
"""``Paris 11e``, ``Lyon 3ème arrondissement``: the commune is what comes before."""


@dataclass(frozen=True)
class Place:
    """Where a fiche is: any level may be empty (a région-wide fiche has no commune)."""

    commune: str = ""
    departement: str = ""
    region: str = ""


def departement_label(name: str, code: str) -> str:
    """``"Finistère (29)"``: how a département is stored and shown."""
    return f"{name} ({code})" if code else name


def label_parts(label: str) -> tuple[str, str]:
    """``"Finistère (29)"`` -> ``("Finistère", "29")``; a label without a number -> ``(label, "")``."""
    match = _LABEL.match(label.strip())
    return (match.group(1), match.group(2)) if match else (label.strip(), "")


@dataclass
class PlaceTable:
    """The place table: for each level, squashed name or alias -> the :class:`Place` it
    designates (a département's place has no commune, a région's only the région)."""

    path: Path | None = None
    names: dict[str, dict[str, Place]] = field(default_factory=lambda: {level: {} for level in LEVELS})
    codes: dict[str, Place] = field(default_factory=dict)
    """Département number (``"29"``, ``"2a"``, ``"974"``) -> its place."""

    def lookup(self, text: str) -> Place | None:
        """The place named ``text`` (narrowest level first), or ``None``."""
        key = squash(text)
        for level in LEVELS:
            if key in self.names[level]:
                return self.names[level][key]
        return None

    def locate(self, ville: str) -> Place | None:
        """The place of a ``Ville`` value (see the module doc), or ``None`` when unknown."""
        parts = [part for part in ville.split(",") if squash(part)]
        for part in reversed(parts):
            place = self.lookup(_POSTAL.sub(" ", part)) or self.lookup(part) or self._numbered(part)
            if place:
                return place
        postal = _POSTAL.search(ville)
        if postal:
            code = postal.group(1)
            return self.codes.get(code[:3] if code.startswith("97") else code[:2])
        return None

    def _numbered(self, part: str) -> Place | None:
        """A name with a département number or an arrondissement: ``Lyon (69)``,
        ``Ille-et-Vilaine (35)``, ``Paris 11e``. The number wins over a commune of
        another département (``Saint-Denis (974)``), not over a région's own name."""
        name, code = label_parts(part)
        place = self.lookup(_ARRONDISSEMENT.sub("", name))
        where = self.codes.get(code.casefold()) if code else None
        if where and (place is None or (place.commune and place.departement != where.departement)):
            return where
        return place


def load_places(path: Path | str) -> PlaceTable:
    """Read the place table; a malformed row raises :class:`CorpusError` (path, line),
    in French, saying what to fix. A missing file gives an empty table."""
    path = Path(path)
    table = PlaceTable(path=path)
    if not path.is_file():
        return table
    rows = _rows(path)
    regions = {squash(row["nom"]): row["nom"] for _, row in rows if row["niveau"] == "region"}
    departements: dict[str, Place] = {}
    for line, row in rows:
        level, name, code = row["niveau"], row["nom"], row["code"]
        if level == "region":
            place = Place(region=name)
        elif level == "departement":
            if squash(row["region"]) not in regions:
                raise CorpusError(str(path), line, f"région « {row['region']} » absente de la table : ajoutez sa ligne")
            place = Place(departement=departement_label(name, code), region=regions[squash(row["region"])])
            departements[code.casefold()] = table.codes[code.casefold()] = place
        else:
            continue
        for alias in [name, *row["alias"].split("|")]:
            if squash(alias):
                table.names[level][squash(alias)] = place
    for line, row in rows:
        if row["niveau"] == "commune":
            where = departements.get(row["departement"].casefold())
            if where is None:
                raise CorpusError(str(path), line, f"département « {row['departement']} » absent de la table : "
                                  "donnez le numéro d'un département qui a sa ligne")
            place = Place(commune=row["nom"], departement=where.departement, region=where.region)
            for alias in [row["nom"], *row["alias"].split("|")]:
                if squash(alias):
                    table.names["commune"][squash(alias)] = place
    return table


def places_or_empty(path: Path | str) -> PlaceTable:
    """The place table, or an empty one (with the reason logged) when it is malformed:
    answering goes on, only with the catalogue's own places."""
    try:
        return load_places(path)
    except CorpusError as exc:
        log.warning("table des lieux ignorée : %s", exc)
        return PlaceTable(path=Path(path))


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The data rows of the table with their line numbers (comments and blanks skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(str(path), 0, f"table des lieux illisible ({exc}) : enregistrez-la en UTF-8") from None
    numbered = [(n, text) for n, text in enumerate(lines, 1) if text.strip() and not text.lstrip().startswith("#")]
    if not numbered or [c.strip() for c in next(csv.reader([numbered[0][1]]))] != COLUMNS:
        raise CorpusError(str(path), numbered[0][0] if numbered else 1,
                          f"en-tête attendu : {','.join(COLUMNS)}")
    rows = []
    for n, values in zip((n for n, _ in numbered[1:]), csv.reader(t for _, t in numbered[1:]), strict=True):
        if len(values) != len(COLUMNS):
            raise CorpusError(str(path), n, f"{len(values)} champs au lieu de {len(COLUMNS)} ({','.join(COLUMNS)})")
        row = dict(zip(COLUMNS, (v.strip() for v in values), strict=True))
        if row["niveau"] not in LEVELS:
            raise CorpusError(str(path), n, f"niveau « {row['niveau']} » inconnu : commune, departement ou region")
        if not squash(row["nom"]):
            raise CorpusError(str(path), n, "nom vide")
        rows.append((n, row))
    return rows


def place_fiche(fiche: Fiche, table: PlaceTable) -> tuple[Fiche, str | None]:
    """The fiche with its commune, département and région from its ``Ville``, and a
    French warning when the place is not in the table (the fiche then keeps the place
    as written as its commune, with no département nor région). A fiche without
    ``Ville`` is returned unchanged."""
    ville = " ".join(fiche.first(VILLE).split())
    if not squash(ville):
        return fiche, None
    place = table.locate(ville)
    warning = None
    if place is None:
        written = _POSTAL.sub(" ", ville.rsplit(",", 1)[-1]).strip(" -") or ville
        place = Place(commune=written)
        where = table.path or "la table des lieux"
        warning = (f"fiche « {fiche.title} » : lieu « {ville} » absent de {where}, importé comme commune "
                   f"« {written} » sans département ni région (ajoutez-le à la table puis réimportez)")
    return fiche.model_copy(update={level: getattr(place, level) for level in LEVELS}), warning
