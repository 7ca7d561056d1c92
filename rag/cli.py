"""``python -m rag`` / ``fiches-rag``: import, index, search, eval, ask.

With ``--json``, stdout carries only JSON; progress and logs go to stderr. Any
:class:`~rag.errors.RagError` becomes one readable line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.config import get_settings
from rag.errors import RagError

log = logging.getLogger("rag")


def _print_json(payload: object) -> None:
    """Write one JSON document to stdout (UTF-8, not ASCII-escaped)."""
    sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def cmd_import(args: argparse.Namespace) -> int:
    """Import a raw export into Markdown fiches."""
    raise NotImplementedError  # H1


def cmd_index(args: argparse.Namespace) -> int:
    """Build or update the index incrementally."""
    raise NotImplementedError  # H3


def cmd_search(args: argparse.Namespace) -> int:
    """Search the index (one question, or one per stdin line with ``-``)."""
    raise NotImplementedError  # H3


def cmd_eval(args: argparse.Namespace) -> int:
    """Retrieval evaluation: recall@k and MRR per mode and question kind."""
    raise NotImplementedError  # H7


def cmd_ask(args: argparse.Namespace) -> int:
    """Answer a question with citations."""
    raise NotImplementedError  # H5


def _filters(values: Sequence[str] | None) -> dict[str, str]:
    """``["ville=Nantes"]`` -> ``{"ville": "Nantes"}``."""
    from rag.errors import InputError

    filters: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError(f"bad filter '{item}': expected FIELD=VALUE, e.g. ville=Nantes")
        filters[key.strip()] = value.strip()
    return filters


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one sub-command per action."""
    parser = argparse.ArgumentParser(prog="python -m rag", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import a raw export of fiches")
    p.add_argument("export", type=Path)
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RAG_CORPUS_DIR)")
    p.add_argument("--json", action="store_true", help="print the fiches as a JSON array")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("index", help="build or update the index")
    p.add_argument("--rebuild", action="store_true", help="drop the index and rebuild it")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search passages")
    p.add_argument("question", help="the question, or - to read one per line from stdin")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default=None)
    p.add_argument("--filter", action="append", metavar="FIELD=VALUE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("eval", help="evaluate retrieval on a JSONL question set")
    p.add_argument("questions", type=Path)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    p.add_argument("--backend", default=None)
    p.add_argument("--base-url", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--filter", action="append", metavar="FIELD=VALUE")
    p.add_argument("--k", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)
    return parser


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a handler, turning expected failures into one stderr line."""
    try:
        return func(args)
    except RagError as exc:
        print(f"erreur: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrompu", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # last resort: never a traceback for the user
        if os.environ.get("RAG_DEBUG"):
            raise
        print(f"erreur interne: {type(exc).__name__}: {exc} (RAG_DEBUG=1 pour le détail)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rag`` and of the ``fiches-rag`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return _run(args.func, args)


__all__ = ["main", "build_parser", "get_settings"]
