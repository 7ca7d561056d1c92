"""rag.catalogue.export_format: what each line of a raw export is, and how its bytes decode.
(The importer's structure rules built on these are tested in test_importer.py.)"""

from __future__ import annotations

import pytest

from rag.catalogue.export_format import (
    HEADING,
    LABEL,
    TEXT,
    classify,
    decode_export,
    ends_paragraph,
    looks_like_heading,
    looks_like_title,
)
from rag.catalogue.fiche import LIEN, MOT_CLEF
from rag.errors import ImportFailed


@pytest.mark.parametrize(("line", "kind", "name"), [
    ("Description", HEADING, "Description"),
    ("DESCRIPTION :", HEADING, "Description"),
    ("Méthodologie mise en œuvre", HEADING, "Méthodologie mise en place"),  # a known variant
    ("Methodologie", HEADING, "Méthodologie mise en place"),
    ("Lien Web si existant ?", LABEL, LIEN),
    ("Mots clés de l'action", LABEL, MOT_CLEF),  # plural, accents and the old spelling
    ("Les agents ont été formés.", TEXT, ""),
])
def test_known_headings_and_labels_match_whatever_their_case_accents_and_plural(line: str, kind: str,
                                                                                 name: str) -> None:
    found = classify(7, line)
    assert (found.no, found.text, found.kind, found.name) == (7, line, kind, name)


@pytest.mark.parametrize(("text", "strict", "title"), [
    ("Accueil en Mairie de Brest", True, True),
    ("https://brest.fr/accueil", False, False),
    ("www.brest.fr", False, False),
    ("contact@brest.fr", False, False),
    ("- un accueil sans rendez-vous", True, False),
    ("- un accueil sans rendez-vous", False, True),  # in the metadata part, list markers are allowed
    ("Les agents ont été formés.", True, False),
    ("", True, False),
    ("x" * 201, False, False),
])
def test_looks_like_title(text: str, strict: bool, title: bool) -> None:
    assert looks_like_title(text, strict=strict) is title


@pytest.mark.parametrize(("text", "heading"), [
    ("Budget", True), ("Calendrier du projet", True), ("budget", False), ("Budget :", False),
    ("Un titre bien trop long pour une rubrique", False), ("Voir https", True), ("Voir http://x", False),
    ("Six mots ici pour une rubrique", False),
])
def test_looks_like_heading_is_strict(text: str, heading: bool) -> None:
    assert looks_like_heading(text) is heading


def test_ends_paragraph() -> None:
    assert ends_paragraph("Les agents ont été formés. ") and ends_paragraph("« Un accueil chaleureux »")
    assert not ends_paragraph("Les étapes :") and not ends_paragraph("- un item")


def test_decode_utf8_with_or_without_bom_and_no_warning() -> None:
    assert decode_export("Accueil à Brest\n".encode(), "x.txt") == ("Accueil à Brest\n", [])
    assert decode_export("\ufeffAccueil à Brest".encode(), "x.txt") == ("Accueil à Brest", [])


def test_decode_utf16_and_legacy_encodings_with_a_located_warning() -> None:
    text, warnings = decode_export("Accueil à Brest".encode("utf-16"), "x.txt")
    assert text == "Accueil à Brest" and warnings == ["x.txt:1: fichier en UTF-16, converti"]
    text, warnings = decode_export("L’accueil à Brest".encode("cp1252"), "x.txt")
    assert text == "L’accueil à Brest" and "lu en cp1252" in warnings[0]
    text, warnings = decode_export(b"Accueil \x81 Brest", "x.txt")  # 0x81 is undefined in cp1252
    assert text == "Accueil \x81 Brest" and "lu en latin-1" in warnings[0]


@pytest.mark.parametrize(("data", "says"), [
    pytest.param(b"", "est vide", id="empty"),
    pytest.param(b" \n\t \n", "est vide", id="blank"),
    pytest.param(b"PK\x03\x04\x00\x00binary", "n'est pas un fichier texte", id="nul-bytes"),
    pytest.param(b"\x01\x02\x03\x04\x05\x06 du texte", "n'est pas un fichier texte", id="control-bytes"),
])
def test_empty_or_binary_content_is_refused_in_french(data: bytes, says: str) -> None:
    with pytest.raises(ImportFailed, match=f"export.txt {says}"):
        decode_export(data, "export.txt")
