"""The stored conversations from the command line: ``conversations list|show|export``,
``feedback list``, and the conversation side of ``ask --conversation new|ID``.

The command line is the desktop user (:data:`~rag.conversations.LOCAL_USER`). An unknown
id is one French line on stderr and exit code 2. When the database fails, ``ask`` still
answers: a note on stderr says the answer is not saved (``conversation_id`` is null).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rag.cli.output import print_json
from rag.cli.parser import FrenchArgumentParser, add_command
from rag.config import get_settings
from rag.errors import DatabaseError

if TYPE_CHECKING:  # imported when used: `python -m rag index` need not load SQLAlchemy
    from rag.answer.pipeline import AnswerRun
    from rag.conversations import ConversationStore

NEW = "new"


def _open() -> tuple[ConversationStore, str]:
    """The configured store, and the user the command line acts for (the desktop user)."""
    from rag.conversations import LOCAL_USER
    from rag.services import Services

    return Services(get_settings()).conversations, LOCAL_USER


def cmd_list(args: argparse.Namespace) -> int:
    """The conversations, most recent first: id, title, turns, updated_at."""
    store, user = _open()
    found = store.list_conversations(user, search=args.search, limit=args.limit)
    rows = [{"id": c.id, "title": c.title, "turns": c.turn_count, "updated_at": c.updated_at.isoformat()}
            for c in found]
    if args.json:
        print_json(rows)
    elif not rows:
        print("aucune conversation", file=sys.stderr)
    for c in [] if args.json else found:
        print(f"{c.id}  {c.updated_at:%Y-%m-%d %H:%M}  {c.turn_count:>3} tour(s)  {c.title}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """One conversation: its turns, or every stored field with ``--json``."""
    from rag.conversations.export import conversation_json, conversation_markdown

    store, user = _open()
    conversation = store.get_conversation(args.id, user)
    if args.json:
        print_json(conversation_json(conversation))
    else:
        sys.stdout.write(conversation_markdown(conversation))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """One conversation as a Markdown or JSON document on stdout."""
    from rag.conversations.export import conversation_json, conversation_markdown

    store, user = _open()
    conversation = store.get_conversation(args.id, user)
    if args.format == "json":
        sys.stdout.write(json.dumps(conversation_json(conversation), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(conversation_markdown(conversation))
    return 0


def cmd_feedback_list(args: argparse.Namespace) -> int:
    """The feedback given, newest first."""
    store, user = _open()
    records = store.list_feedback(user, rating=args.rating, limit=args.limit)
    if args.json:
        print_json([record.model_dump(mode="json") for record in records])
        return 0
    if not records:
        print("aucun avis", file=sys.stderr)
    for record in records:
        mark = "👍" if record.rating == "up" else "👎"
        details = "; ".join([*record.reasons, *([record.comment] if record.comment else [])])
        print(f"{record.created_at:%Y-%m-%d %H:%M}  {mark}  {record.conversation_id}  {record.question}"
              + (f"  — {details}" if details else ""))
    return 0


def add_parsers(sub: argparse._SubParsersAction[FrenchArgumentParser]) -> None:
    """The ``conversations`` and ``feedback`` sub-commands."""
    conv = add_command(sub, "conversations", "conversations enregistrées (list, show, export)")
    actions = conv.add_commands("action", "ACTION", "l'action, parmi :")
    p = add_command(actions, "list", "les conversations, les plus récentes d'abord")
    p.add_argument("--search", default=None, metavar="TEXTE",
                   help="garde celles dont le titre ou une question contient ce texte")
    p.add_argument("--limit", type=int, default=100, metavar="N",
                   help="nombre maximal de conversations (défaut : 100)")
    p.add_argument("--json", action="store_true", help="affiche la liste en JSON")
    p.set_defaults(func=cmd_list)
    p = add_command(actions, "show", "une conversation, tour par tour")
    p.add_argument("id", help="l'identifiant de la conversation (voir conversations list)")
    p.add_argument("--json", action="store_true", help="affiche tous les champs enregistrés en JSON")
    p.set_defaults(func=cmd_show)
    p = add_command(actions, "export", "une conversation en document sur stdout")
    p.add_argument("id", help="l'identifiant de la conversation (voir conversations list)")
    p.add_argument("--format", choices=["md", "json"], default="md",
                   help="md (Markdown, par défaut) ou json")
    p.set_defaults(func=cmd_export)

    feedback = add_command(sub, "feedback", "les avis donnés sur les réponses")
    actions = feedback.add_commands("action", "ACTION", "l'action, parmi :")
    p = add_command(actions, "list", "les avis, les plus récents d'abord")
    p.add_argument("--rating", choices=["up", "down"], default=None,
                   help="seulement les avis positifs (up) ou négatifs (down) ; tous par défaut")
    p.add_argument("--limit", type=int, default=200, metavar="N", help="nombre maximal d'avis (défaut : 200)")
    p.add_argument("--json", action="store_true", help="affiche les avis en JSON")
    p.set_defaults(func=cmd_feedback_list)


class AskConversation:
    """``ask --conversation new|ID``: the stored history before answering, the turn saved
    after (:class:`~rag.conversations.Exchange`). An unknown ID raises
    ConversationNotFound before anything is computed; a database failure only prints a
    note (the answer is then not saved)."""

    def __init__(self, store: ConversationStore, wanted: str) -> None:
        from rag.conversations import LOCAL_USER

        self.exchange = store.exchange(LOCAL_USER, None if wanted == NEW else wanted)
        self.turn_id: str | None = None
        self.history: list[tuple[str, str]] = []
        self.saving = True
        if self.exchange.id is not None:
            try:
                self.history = store.history(self.exchange.id, LOCAL_USER)
            except DatabaseError as exc:
                self._give_up(f"historique indisponible, la question est traitée seule ({exc})")

    @property
    def id(self) -> str | None:
        """The conversation's id; ``None`` before ``new`` is stored, or once saving gave up."""
        return self.exchange.id if self.saving else None

    def _give_up(self, why: str) -> None:
        print(f"note : {why} ; la réponse ne sera pas enregistrée.", file=sys.stderr)
        self.saving = False

    def start(self) -> None:
        """Call just before ``ask()``: the timings count from here (the question's Enter)."""
        self.exchange.start()

    def timed(self, pieces: Iterator[str]) -> Iterator[str]:
        """The answer's pieces, noting when the first one arrives."""
        return self.exchange.timed(pieces)

    def save(self, run: AnswerRun, chosen: dict[str, str]) -> dict[str, str | None]:
        """Store the answer as the conversation's next turn (creating the conversation
        for ``new``), with the filters inferred beyond the ``chosen`` ones, as the UI and
        the API do; the ``conversation_id`` and ``turn_id`` for ``--json``."""
        if self.saving:
            try:
                self.turn_id = self.exchange.save(run, chosen).id
            except DatabaseError as exc:
                self._give_up(str(exc))
        return {"conversation_id": self.id, "turn_id": self.turn_id}

    def report(self) -> None:
        """Text mode: the conversation id on stderr, to continue it."""
        if self.id is not None:
            print(f"conversation : {self.id} (suite : --conversation {self.id})", file=sys.stderr)
