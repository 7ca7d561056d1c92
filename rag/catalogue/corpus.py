"""The catalogue on disk: one Markdown file per fiche, read back losslessly.

File format (users may edit or add such files by hand)::

    ---
    id: accueil-en-mairie-de-brest
    title: Accueil en Mairie de brest
    commune: Brest
    departement: Finistère (29)
    region: Bretagne
    metadata:
      Ville: Brest
      Partenaires associés:
      - Agence DETEA
    ---

    ## Description

    Texte de la section, tel quel.

Section text is kept verbatim. A text line that would read as a heading (``## x``) is
written with one extra leading backslash (``\\## x``) and unescaped on reading, so any
text survives the round trip. Text cannot start or end with a blank line, nor contain
``\\r``: :func:`fiche_to_markdown` refuses such a fiche rather than change it.
YAML scalars are always read as strings (``Ville: 2024`` stays ``"2024"``). ``commune``,
``departement`` and ``region`` (the place, normalised at import) are optional.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rag.catalogue.fiche import MULTI_VALUED, PLACE_FIELDS, Fiche
from rag.catalogue.folder import restore_interrupted
from rag.errors import CorpusError

HEADING_RE = re.compile(r"^##(?:[ \t]+(.*?))?[ \t]*$")
"""A section heading line of a fiche file."""

ESCAPED_RE = re.compile(r"^\\*##(?:[ \t]|$)")
"""A text line that must gain (on write) or lose (on read) one leading backslash."""

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class _StringLoader(yaml.SafeLoader):
    """A safe loader that resolves every plain scalar to a string (no bool/int/date)."""


_StringLoader.yaml_implicit_resolvers = {}


@dataclass
class CorpusLoad:
    """The fiches that loaded, and one :class:`CorpusError` per file that did not."""

    fiches: list[Fiche] = field(default_factory=list)
    errors: list[CorpusError] = field(default_factory=list)


def _check_text(fiche: Fiche, name: str, text: str) -> None:
    """Refuse section names and texts the file format cannot carry unchanged."""
    if not name or name != name.strip() or "\n" in name or "\r" in name:
        raise ValueError(f"fiche {fiche.id}: section name {name!r} must be one non-blank line")
    lines = text.split("\n")
    if "\r" in text or not lines[0].strip() or not lines[-1].strip():
        raise ValueError(f"fiche {fiche.id}: section {name!r} has no text or blank edge lines")


def fiche_to_markdown(fiche: Fiche) -> str:
    """The Markdown file of a fiche: YAML front matter, then ``## Section`` blocks."""
    if not ID_RE.match(fiche.id):
        raise ValueError(f"fiche id {fiche.id!r} is not a slug (a-z, 0-9, '-')")
    head: dict[str, object] = {"id": fiche.id, "title": fiche.title}
    head.update((level, getattr(fiche, level)) for level in PLACE_FIELDS if getattr(fiche, level))
    if fiche.metadata:
        head["metadata"] = dict(fiche.metadata)
    front = _dump_yaml(head)
    parts = [f"---\n{front}---\n"]
    for name, text in fiche.sections.items():
        _check_text(fiche, name, text)
        body = "\n".join("\\" + line if ESCAPED_RE.match(line) else line for line in text.split("\n"))
        parts.append(f"## {name}\n\n{body}\n")
    return "\n".join(parts)


def _dump_yaml(head: dict[str, object]) -> str:
    """Readable YAML (UTF-8 as is), or all-escaped YAML when PyYAML would not read it back
    identically (it mangles a few line-separator characters such as a final U+0085)."""
    for allow_unicode in (True, False):
        dumped = yaml.safe_dump(head, allow_unicode=allow_unicode, sort_keys=False, width=float("inf"))
        if yaml.load(dumped, Loader=_StringLoader) == head:  # noqa: S506 - safe subclass
            return dumped
    raise ValueError(f"fiche {head['id']}: title or metadata cannot be written as YAML")


def _front_matter(lines: list[str], path: str) -> tuple[dict, int]:
    """The parsed front matter and the index of the first line after it."""
    if not lines or lines[0].strip() != "---":
        raise CorpusError(path, 1, "le fichier doit commencer par '---' (en-tête YAML)")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise CorpusError(path, 1, "en-tête YAML non fermé : ajoutez une ligne '---'")
    try:
        head = yaml.load("\n".join(lines[1:end]), Loader=_StringLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = 2 + (mark.line if mark else 0)
        raise CorpusError(path, line, f"en-tête YAML invalide : {getattr(exc, 'problem', exc)}") from None
    if not isinstance(head, dict):
        raise CorpusError(path, 2, "l'en-tête YAML doit être une table 'clé: valeur'")
    return head, end + 1


def _metadata(raw: object, path: str, line: int) -> dict[str, str | list[str]]:
    """Validate the ``metadata`` table: strings or lists of strings; empty values dropped."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise CorpusError(path, line, "'metadata' doit être une table 'champ: valeur'")
    metadata: dict[str, str | list[str]] = {}
    for key, value in raw.items():
        values: str | list[str]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            values = [v for v in value if v.strip()]
        elif isinstance(value, str):
            values = value
        else:
            raise CorpusError(path, line, f"champ '{key}' : texte ou liste de textes attendu")
        if key in MULTI_VALUED and isinstance(values, str):
            values = [values]
        if values and (not isinstance(values, str) or values.strip()):
            metadata[str(key)] = values
    return metadata


def _sections(lines: list[str], start: int, path: str) -> dict[str, str]:
    """The ``## Section`` blocks of the body starting at line index ``start``."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for index in range(start, len(lines)):
        line = lines[index]
        heading = HEADING_RE.match(line)
        if heading:
            name = (heading.group(1) or "").strip()
            if not name:
                raise CorpusError(path, index + 1, "titre de section vide après '##'")
            if name in sections:
                raise CorpusError(path, index + 1, f"section '{name}' en double")
            current = sections[name] = []
        elif current is not None:
            current.append(line[1:] if ESCAPED_RE.match(line) and line.startswith("\\") else line)
        elif line.strip():
            raise CorpusError(path, index + 1, "texte hors section : ajoutez un titre '## Section' avant")
    result = {}
    for name, body in sections.items():
        while body and not body[0].strip():
            body.pop(0)
        while body and not body[-1].strip():
            body.pop()
        if body:
            result[name] = "\n".join(body)
    return result


def markdown_to_fiche(text: str, path: Path | str = "<fiche>") -> Fiche:
    """Parse one fiche file; a malformed one raises :class:`CorpusError` (path, line)."""
    path = str(path)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head, body_start = _front_matter(lines, path)
    title = head.get("title")
    if not isinstance(title, str) or not title.strip():
        raise CorpusError(path, 1, "champ 'title' manquant dans l'en-tête YAML")
    fiche_id = head.get("id") or Path(path).stem
    if not isinstance(fiche_id, str) or not ID_RE.match(fiche_id):
        raise CorpusError(path, 1, f"id {fiche_id!r} invalide : lettres minuscules, chiffres et '-'")
    metadata = _metadata(head.get("metadata"), path, 1)
    place = {level: head[level] for level in PLACE_FIELDS if head.get(level) not in (None, "")}
    for level, value in place.items():
        if not isinstance(value, str):
            raise CorpusError(path, 1, f"champ '{level}' : un seul texte attendu (ex. {level}: Bretagne)")
    return Fiche(id=fiche_id, title=title, sections=_sections(lines, body_start, path), metadata=metadata, **place)


def load_corpus(corpus_dir: Path | str) -> CorpusLoad:
    """Every ``*.md`` fiche of a folder, in file-name order; bad files become errors.

    A duplicate id is an error on the later file; the first one wins.
    """
    corpus_dir = Path(corpus_dir)
    load = CorpusLoad()
    restore_interrupted(corpus_dir)
    if not corpus_dir.is_dir():
        reason = "dossier du corpus introuvable : lancez `python -m rag import EXPORT`"
        load.errors.append(CorpusError(str(corpus_dir), 0, reason))
        return load
    owners: dict[str, str] = {}
    for path in sorted(corpus_dir.glob("*.md")):
        try:
            fiche = markdown_to_fiche(path.read_bytes().decode("utf-8"), path)
        except UnicodeDecodeError:
            load.errors.append(CorpusError(str(path), 1, "fichier non UTF-8 : réenregistrez-le en UTF-8"))
            continue
        except OSError:  # a folder named x.md, a file without read permission
            reason = ("dossier nommé comme une fiche : renommez-le" if path.is_dir()
                      else "fichier illisible : vérifiez ses droits")
            load.errors.append(CorpusError(str(path), 0, reason))
            continue
        except CorpusError as error:
            load.errors.append(error)
            continue
        if fiche.id in owners:
            reason = f"id '{fiche.id}' déjà utilisé par {owners[fiche.id]}"
            load.errors.append(CorpusError(str(path), 1, reason))
            continue
        owners[fiche.id] = path.name
        load.fiches.append(fiche)
    return load


def write_fiches(fiches: Iterable[Fiche], out_dir: Path | str) -> list[Path]:
    """Write ``<id>.md`` for each fiche into ``out_dir``, all or nothing.

    The new folder content (existing files + new ones) is staged in a temporary folder
    next to ``out_dir`` and swapped in with renames, so a failure at any point leaves
    ``out_dir`` as it was. Files of other fiches are kept. Returns the changed files.
    """
    out_dir = Path(out_dir)
    restore_interrupted(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} existe et n'est pas un dossier")
    rendered = {f"{fiche.id}.md": fiche_to_markdown(fiche).encode("utf-8") for fiche in fiches}
    changed = [name for name, data in rendered.items() if _read(out_dir / name) != data]
    if not changed:
        return []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    backup = stage.with_name(stage.name.replace(".new-", ".old-"))
    try:
        if out_dir.is_dir():
            shutil.copytree(out_dir, stage, dirs_exist_ok=True)
        else:
            os.chmod(stage, 0o755)
        for name in changed:
            (stage / name).write_bytes(rendered[name])
        if out_dir.exists():
            out_dir.rename(backup)
        try:
            stage.rename(out_dir)
        except OSError:
            if backup.exists():
                backup.rename(out_dir)
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(backup, ignore_errors=True)
    return [out_dir / name for name in changed]


def _read(path: Path) -> bytes | None:
    """A file's bytes, or ``None`` when it cannot be read as a file."""
    try:
        return path.read_bytes()
    except OSError:
        return None
