"""The one-off import of the old ``<data dir>/feedback.jsonl`` (written by the first
version of the chat, :mod:`rag.ui.feedback`) into the database.

Each old line holds a question, its answer, sources and a 👍/👎 (no conversation): it
becomes a conversation of one turn, titled by the question, with its feedback, owned by
the local user. The import is recorded in the ``meta`` table (its primary key makes a
second import impossible, even by two processes at once); afterwards the file is left
alone, untouched. A line that is not a usable record is skipped and counted.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from rag.conversations.models import Timings
from rag.conversations.rows import new_id, now, search_text, title_from, utc
from rag.conversations.schema import conversations, feedback, meta, turns

log = logging.getLogger(__name__)

LEGACY_FILE = "feedback.jsonl"
LEGACY_KEY = "legacy_feedback_import"


def legacy_pending(conn: Connection, path: Path | None) -> bool:
    """Whether ``path`` exists and was never imported into this database."""
    if path is None or not path.is_file():
        return False
    if not inspect(conn).has_table(meta.name):
        return True
    return conn.execute(select(meta.c.value).where(meta.c.key == LEGACY_KEY)).first() is None


def import_legacy_feedback(conn: Connection, path: Path, user_id: str) -> int:
    """Import ``path`` once (inside the caller's write transaction); the number of records
    imported (0 when already done or when there is no file)."""
    if not legacy_pending(conn, path):
        return 0
    try:
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError as exc:
        log.warning("ancien fichier d'avis %s illisible (%s) : import reporté", path, exc.strerror)
        return 0
    imported = skipped = 0
    for line in filter(str.strip, lines):
        record = _record(line)
        if record is None:
            skipped += 1
            continue
        _insert(conn, record, user_id)
        imported += 1
    summary = {"file": str(path), "imported": imported, "skipped": skipped, "at": now().isoformat()}
    conn.execute(insert(meta).values(key=LEGACY_KEY, value=json.dumps(summary)))
    log.info("ancien fichier d'avis %s importé : %d avis, %d ligne(s) ignorée(s)", path, imported, skipped)
    return imported


def _record(line: str) -> dict | None:
    """A usable old record (a question and a rating up/down), else None."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("rating") not in ("up", "down"):
        return None
    if not isinstance(record.get("question"), str) or not record["question"].strip():
        return None
    return record


def _when(record: dict) -> datetime:
    try:
        return utc(datetime.fromisoformat(str(record.get("timestamp"))))
    except ValueError:
        return now()


def _sources(record: dict) -> tuple[list[dict], list[int]]:
    """The old brief sources as full Source dicts, and the cited numbers."""
    def numbered(items: object) -> list[dict]:
        return [item for item in items or [] if isinstance(item, dict) and isinstance(item.get("n"), int)] \
            if isinstance(items, list | None) else []

    cited = [item["n"] for item in numbered(record.get("cited"))]
    sources = [
        {"n": item["n"], "fiche_id": str(item.get("fiche_id", "")), "title": str(item.get("title", "")),
         "section": str(item.get("section", "")), "text": "", "url": "", "cited": item["n"] in cited}
        for item in numbered(record.get("sources"))
    ]
    return sources, cited


def _insert(conn: Connection, record: dict, user_id: str) -> None:
    """One old record as a conversation, a turn and a feedback row."""
    question, stamp = record["question"].strip(), _when(record)
    title = title_from(question)
    conversation_id, turn_id = new_id(), new_id()
    conn.execute(insert(conversations).values(
        id=conversation_id, user_id=user_id, title=title, search_text=search_text(title, [question]),
        created_at=stamp, updated_at=stamp))
    sources, cited = _sources(record)
    filters = record["filters"] if isinstance(record.get("filters"), dict) else {}
    conn.execute(insert(turns).values(
        id=turn_id, conversation_id=conversation_id, position=0, question=question, standalone_question=question,
        answer=str(record.get("answer") or ""), sources=sources, cited=cited,
        backend=str(record.get("backend") or ""), model=None, filters={str(k): str(v) for k, v in filters.items()},
        inferred_filters={}, abstained=bool(record.get("abstained")), error=record.get("error") or None,
        evidence="", notices=[], timings=Timings().model_dump(), created_at=stamp))
    conn.execute(insert(feedback).values(
        turn_id=turn_id, conversation_id=conversation_id, user_id=user_id, rating=record["rating"], reasons=[],
        comment=str(record.get("comment") or "").strip(), created_at=stamp))
