"""The catalogue of fiches: the fiche model (``fiche``), the :class:`Catalogue` mapping and
what is derived from it (place names, vocabulary), the table of French places
(``places``), raw export -> clean fiches (``export_format``, ``importer``, ``cleaning``,
``spam``: deny-list, link masking) and fiche Markdown files <-> fiches (``corpus``).
Imports only the root modules."""
