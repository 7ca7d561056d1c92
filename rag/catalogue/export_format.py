"""The form of a raw export: its encoding, and what each line is (heading, label, text).

Known headings and labels match case-, accent- and plural-insensitively, with an
optional trailing ``:`` or ``?``. The shape tests (does a line look like a title, like
an unknown heading?) live here too, so the importer's structure rules stay readable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag.catalogue.fiche import METADATA_FIELDS, SECTIONS
from rag.errors import ImportFailed

TEXT, HEADING, LABEL = "text", "heading", "label"

SENTENCE_END = (".", "!", "?", "…", "»", '"', "”")
"""How a complete paragraph ends (used to spot an unknown heading after it)."""

LIST_MARKERS = ("-", "–", "—", "•", "*", "«", '"', "“", "(", "[")


def _key(text: str) -> str:
    """A comparison key: no accents, casefolded, one space, no plural, no final ``:``/``?``."""
    text = text.replace("’", "'").replace("œ", "oe").replace("Œ", "Oe")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[\s:?]+$", "", ascii_text.casefold()).split()
    return " ".join(w[:-1] if len(w) > 3 and w[-1] in "sx" else w for w in words)


_HEADINGS = {_key(name): name for name in SECTIONS} | {
    _key("Méthodologie"): "Méthodologie mise en place",
    _key("Méthodologie mise en œuvre"): "Méthodologie mise en place",
}
_LABELS = {_key(name): name for name in METADATA_FIELDS} | {
    _key("Mot clé de l'action"): "Mot clef de l'action",
}


@dataclass(frozen=True)
class Line:
    """One non-blank, cleaned export line with its 1-based number and its kind."""

    no: int
    text: str
    kind: str = TEXT
    name: str = ""
    """The canonical heading or label name for ``HEADING``/``LABEL`` lines."""


def classify(no: int, text: str) -> Line:
    """Tag a line as a known heading, a known label, or text."""
    key = _key(text)
    if key in _HEADINGS:
        return Line(no, text, HEADING, _HEADINGS[key])
    if key in _LABELS:
        return Line(no, text, LABEL, _LABELS[key])
    return Line(no, text)


def looks_like_title(text: str, strict: bool = True) -> bool:
    """Could this line be a fiche title? Never a URL or an e-mail address; when ``strict``
    (outside the metadata part, where doubled paragraphs abound) not a list item nor a
    line ending like a sentence or a list lead-in either."""
    if not 0 < len(text) <= 200 or re.match(r"(?:https?://|www\.)", text, re.IGNORECASE):
        return False
    if re.search(r"\S@\S", text):
        return False
    return not strict or not (text.startswith(LIST_MARKERS) or text.endswith((".", ",", ";", ":")))


def looks_like_heading(text: str) -> bool:
    """Could this line be a heading we do not know? Short, capitalised, no final punctuation.

    Deliberately strict: a false heading only renames where text goes, but it should
    stay rare.
    """
    words = text.split()
    return (
        1 <= len(words) <= 5
        and len(text) <= 40
        and text[0].isupper()
        and text[-1].isalnum()
        and not re.search(r"[:/@=]", text)
    )


def ends_paragraph(text: str) -> bool:
    """Does this line end like a finished paragraph (not a list lead-in or item)?"""
    return text.rstrip().endswith(SENTENCE_END)


def decode_export(data: bytes, source: str) -> tuple[str, list[str]]:
    """The text of an export (UTF-8; else UTF-16 with a BOM, cp1252 or latin-1, with a
    warning) and the warnings.

    Empty or binary content raises :class:`ImportFailed` with what to do.
    """
    if not data.strip():
        raise ImportFailed(f"{source} est vide : exportez à nouveau les fiches puis relancez l'import")
    binary = ImportFailed(f"{source} n'est pas un fichier texte : donnez l'export texte (.txt) des fiches")
    warnings: list[str] = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # "Unicode" text saved by Windows tools
        try:
            return data.decode("utf-16"), [f"{source}:1: fichier en UTF-16, converti"]
        except UnicodeDecodeError:
            raise binary from None
    if b"\x00" in data:
        raise binary
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        encoding = "cp1252"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            encoding, text = "latin-1", data.decode("latin-1")
        warnings.append(f"{source}:1: fichier non UTF-8, lu en {encoding} ; vérifiez les accents")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f" or 0x7F <= ord(ch) < 0xA0)
    if controls > max(2, len(text) // 100):
        raise binary
    return _repair_mojibake(text, source, warnings)


_MOJIBAKE = re.compile("[ÃÂâÅ][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
                       "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")
"""Two characters that UTF-8 bytes read as cp1252 give (« Ã© » for « é », « â€™ » for « ’ »)."""

_LOST_NBSP = re.compile(r"(?<![A-ZÀ-ÖØ-Þ])Ã(?: (?![^\W\d_])|(?=\r?$))")
"""« à » read as cp1252 is « Ã » + non-breaking space, which editors turn into a space
(« Ã  Brest », « c'est-Ã -dire ») or drop at the line end: such an « Ã » ends a word.
Never after a capital, where « Ã » is correct (« IRMÃ DULCE »)."""

_LONE_A = re.compile(r"(?<![A-ZÀ-ÖØ-Þ])Ã(?= |\r?$)")
"""An « Ã » ending a word but not after a capital: mojibake even when it cannot be undone."""


def _as_cp1252_bytes(line: str) -> bytes | None:
    """The bytes a cp1252 reading turned into ``line`` (C1 controls stand for the five
    bytes cp1252 leaves undefined), or ``None`` when ``line`` could not come from one."""
    out = bytearray()
    for ch in line:
        try:
            out += ch.encode("cp1252")
        except UnicodeEncodeError:
            if not 0x80 <= ord(ch) < 0xA0:
                return None
            out.append(ord(ch))
    return bytes(out)


def _looks_mojibake(line: str) -> bool:
    """Does the line show the pairs of UTF-8 read as cp1252, or an « Ã » ending a word?"""
    return bool(_MOJIBAKE.search(line) or _LONE_A.search(line))


def _repair_line(line: str) -> str | None:
    """``line`` read back as UTF-8 when it is mojibake that can be undone, else ``None``.

    The lost non-breaking spaces of « Ã  » are put back first: a line holding them can
    never be read strictly (« Ã » then a space is not UTF-8), so this only adds repairs."""
    if not _looks_mojibake(line):
        return None
    raw = _as_cp1252_bytes(_LOST_NBSP.sub("Ã\xa0", line))
    try:
        return raw.decode("utf-8") if raw is not None else None
    except UnicodeDecodeError:
        return None


def _repair_mojibake(text: str, source: str, warnings: list[str]) -> tuple[str, list[str]]:
    """The text with its mojibake lines (UTF-8 read as cp1252, then saved again) read back
    as UTF-8, and a warning. A line is repaired only when it shows the mojibake pairs (or
    an « Ã » ending a word) and its bytes are valid UTF-8: correct text such as « ÂGE »,
    « São » or « IRMÃ » is left alone. Lines that look like mojibake but cannot be
    repaired (partly retyped, spaces collapsed) are reported."""
    lines = text.split("\n")
    repaired, broken = [], []
    for index, line in enumerate(lines):
        fixed = _repair_line(line)
        if fixed is not None:
            lines[index] = fixed
            repaired.append(index + 1)
        elif _looks_mojibake(line):
            broken.append(index + 1)
    if repaired:
        warnings.append(f"{source}:{repaired[0]}: {len(repaired)} ligne(s) mal encodée(s) (« Ã© » pour « é ») "
                        "réparée(s) ; vérifiez les accents")
    if broken:
        warnings.append(f"{source}:{broken[0]}: {len(broken)} ligne(s) semblent mal encodée(s) (« Ã© » pour « é ») "
                        "mais n'ont pas pu être réparée(s) : corrigez-les dans l'export")
    return "\n".join(lines), warnings
