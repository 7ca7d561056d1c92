"""The fiche: one initiative of the catalogue, with its ordered sections and metadata.

A fiche is plain data. Parsing a raw export lives in ``rag.catalogue.importer``, reading and
writing Markdown files in ``rag.catalogue.corpus``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from rag.markdown import slug

SECTIONS: tuple[str, ...] = (
    "Description",
    "Enjeux",
    "Convictions",
    "Méthodologie mise en place",
    "Réalisations",
    "Pour aller plus loin",
)
"""Known section headings, in their usual order."""

ACTEUR = "Nom de l'acteur"
AUTEUR = "Auteur de la fiche"
TYPE_ACTEUR = "Type d'acteurs qui propose cette initiative"
AUTRE_ACTEUR = "Précisez autre acteur"
ECHELLE = "Echelle d'action"
MOT_CLEF = "Mot clef de l'action"
VILLE = "Ville"
CONTACT = "Comment contacter cette initiative?"
LIEN = "Lien Web si existant"
PARTENAIRES = "Partenaires associés"

METADATA_FIELDS: tuple[str, ...] = (
    ACTEUR, AUTEUR, TYPE_ACTEUR, AUTRE_ACTEUR, ECHELLE, MOT_CLEF, VILLE, CONTACT, LIEN, PARTENAIRES,
)
"""Known metadata labels, in export order."""

MULTI_VALUED: frozenset[str] = frozenset({TYPE_ACTEUR, AUTRE_ACTEUR, MOT_CLEF, PARTENAIRES})
"""Fields stored as lists (one value per line in the export)."""

MetaValue = str | list[str]


def slugify(text: str) -> str:
    """A stable, ASCII, lowercase id from a title: ``"Accueil en Mairie de brest"`` ->
    ``"accueil-en-mairie-de-brest"`` (:func:`rag.markdown.slug`, ``"fiche"`` when empty)."""
    return slug(text) or "fiche"


COMMUNE, DEPARTEMENT, REGION = "commune", "departement", "region"
PLACE_FIELDS: tuple[str, ...] = (COMMUNE, DEPARTEMENT, REGION)
"""Where the initiative is, normalised at import from ``Ville`` and ``corpus/places.csv``
(``rag.catalogue.places``): front-matter keys of the fiche file, not export labels."""


class Fiche(BaseModel):
    """One initiative. ``sections`` keeps the export's order; empty sections are absent.
    ``commune``, ``departement`` ("Finistère (29)") and ``region`` are its place (any may
    be empty)."""

    id: str
    title: str
    commune: str = ""
    departement: str = ""
    region: str = ""
    sections: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, MetaValue] = Field(default_factory=dict)

    def values(self, field: str) -> list[str]:
        """A metadata field (or a place level of :data:`PLACE_FIELDS`) as a list,
        whatever its arity (``[]`` when absent)."""
        if field in PLACE_FIELDS:
            place = getattr(self, field)
            return [place] if place else []
        value = self.metadata.get(field)
        if value is None:
            return []
        return list(value) if isinstance(value, list) else [value]

    def first(self, field: str) -> str:
        """The first value of a metadata field, or ``""``."""
        values = self.values(field)
        return values[0] if values else ""

    @property
    def link(self) -> str:
        """The fiche's web link when it is a real http(s) URL, else ``""``."""
        url = self.first(LIEN).strip()
        return url if re.match(r"https?://[^\s/]+\.[^\s]+", url) else ""

    def to_json(self) -> dict:
        """The public JSON shape: ``{"id", "title", "commune", "departement", "region",
        "sections", "metadata"}``."""
        return self.model_dump(mode="json")
