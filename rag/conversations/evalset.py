""""Ajouter au jeu d'évaluation": a question from the Retours page appended to the eval
set (``RAG_FEEDBACK_EVAL_PATH``, default ``eval/feedback.jsonl``) in the eval format
(``{"q": …, "gold": […], "kind": "feedback"}``, read by ``python -m rag eval``). A
follow-up is added as its standalone question, the words typed kept as ``"typed"`` (the
eval loader reads ``q``, ``gold`` and ``kind`` and ignores other fields).

The line is encoded first, then written by one ``os.write`` on a descriptor opened with
``O_APPEND``: two writers at once never interleave or tear a line. The same question
with the same expected initiatives is not added twice. A file that cannot be read or
written raises :class:`~rag.errors.ConfigError` in French, naming the setting to change.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rag.errors import ConfigError, InputError
from rag.text import clean_question, fold

KIND = "feedback"
_FICHE_ID = re.compile(r"^[\w][\w.-]*$")
_WHY = {
    errno.EACCES: "permission refusée",
    errno.EPERM: "permission refusée",
    errno.EROFS: "système de fichiers en lecture seule",
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota disque dépassé",
    errno.EISDIR: "c'est un dossier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
}
"""Why a file cannot be written, in French, by ``errno`` (others keep the system's words)."""


def unwritable(path: Path, exc: OSError) -> ConfigError:
    """The French error of an eval set that cannot be read or written."""
    why = _WHY.get(exc.errno or 0) or exc.strerror or str(exc)
    return ConfigError(f"impossible d'écrire dans le jeu d'évaluation {path} ({why}) : donnez un fichier "
                       "accessible en écriture avec le réglage RAG_FEEDBACK_EVAL_PATH")


def _entry(question: str, expected_fiche_ids: Sequence[str]) -> tuple[str, list[str]]:
    """The validated ``(q, gold)``; InputError in French otherwise."""
    text, _ = clean_question(question, 2000)
    gold = list(dict.fromkeys(str(fid).strip() for fid in expected_fiche_ids))
    bad = [fid for fid in gold if not _FICHE_ID.match(fid)]
    if bad:
        raise InputError(f"identifiant de fiche invalide : {', '.join(map(repr, bad))}")
    return text, gold


def _already_there(path: Path, question: str, gold: list[str]) -> bool:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return False
    for line in lines:
        try:
            old = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(old, dict) and fold(str(old.get("q", ""))) == fold(question) \
                and sorted(map(str, old.get("gold") or [])) == sorted(gold):
            return True
    return False


def eval_line(question: str, expected_fiche_ids: Sequence[str], typed: str | None = None) -> str:
    """The entry as one JSONL line (no newline), for the file or to be copied by hand;
    ``typed``: the words the user typed, when ``question`` is their standalone form."""
    return _line(*_entry(question, expected_fiche_ids), typed)


def _line(text: str, gold: list[str], typed: str | None) -> str:
    entry: dict[str, object] = {"q": text, "gold": gold, "kind": KIND}
    if typed and typed.strip():
        entry["typed"] = " ".join(typed.split())
    return json.dumps(entry, ensure_ascii=False)


def append_to_eval_set(question: str, expected_fiche_ids: Sequence[str], path: Path,
                       typed: str | None = None) -> bool:
    """Append the question with its expected fiche ids (``[]``: the catalogue does not
    cover it) to ``path``; False when the same entry is already there. ``typed``: the
    follow-up as typed when ``question`` is its standalone form (kept beside it)."""
    text, gold = _entry(question, expected_fiche_ids)
    line = _line(text, gold, typed) + "\n"
    path = Path(path)
    try:
        if _already_there(path, text, gold):
            return False
        _append(path, line)
    except OSError as exc:
        raise unwritable(path, exc) from None
    return True


def _append(path: Path, line: str) -> None:
    """One ``os.write`` of ``line`` at the end of ``path`` (created with its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line  # never glue our line to an unterminated last line
        data = line.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(errno.EIO, f"écriture incomplète dans {path}")
    finally:
        os.close(fd)
