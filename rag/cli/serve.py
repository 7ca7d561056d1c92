"""``python -m rag serve`` (the HTTP API on uvicorn) and ``python -m rag mcp`` (the MCP
server, stdio or streamable HTTP).

Both refuse to listen beyond this machine without protection: ``serve`` on a
non-loopback address needs API keys (``RAG_API_KEYS`` / ``RAG_API_KEYS_FILE``) or
``--insecure``; ``mcp --http`` has no keys, so a non-loopback address needs
``--insecure``.
"""

from __future__ import annotations

import argparse
import sys

from rag.cli.parser import FrenchArgumentParser, add_command
from rag.config import get_settings


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the API until interrupted (index built or updated at start-up)."""
    from rag.api import listen
    from rag.api.app import create_app
    from rag.api.auth import check_exposure, load_keys

    settings = get_settings()
    keys = load_keys(settings)
    check_exposure(args.host, keys, args.insecure)
    sock = listen.bind(args.host, args.port)  # a busy port fails now, not after the warm-up
    print(f"API sur http://{args.host}:{args.port}/v1 ({'clés requises' if keys else 'sans clé'}) ; "
          "l'index est vérifié au démarrage", file=sys.stderr)
    listen.run(create_app(settings), sock, args.log_level)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    """Serve the MCP server over stdio, or streamable HTTP with ``--http``."""
    from rag.api import listen
    from rag.api.auth import check_exposure
    from rag.api.mcp_server import serve
    from rag.services import Services

    sock = None
    if args.http:
        check_exposure(args.host, (), args.insecure)
        sock = listen.bind(args.host, args.port)
        print(f"serveur MCP sur http://{args.host}:{args.port}/mcp", file=sys.stderr)
    serve(Services(get_settings()), sock)
    return 0


def add_parsers(sub: argparse._SubParsersAction[FrenchArgumentParser]) -> None:
    """The ``serve`` and ``mcp`` sub-commands."""
    p = add_command(sub, "serve", "servir l'API HTTP compatible OpenAI",
                    "Sur une adresse hors de cette machine, des clés d'API sont exigées (RAG_API_KEYS ou "
                    "RAG_API_KEYS_FILE), sauf --insecure.")
    p.add_argument("--host", default="127.0.0.1", metavar="ADRESSE",
                   help="adresse d'écoute (défaut : 127.0.0.1, cette machine seulement)")
    p.add_argument("--port", type=int, default=8000, help="port d'écoute (défaut : 8000)")
    p.add_argument("--insecure", action="store_true",
                   help="autorise une adresse hors de cette machine sans clé d'API (déconseillé)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="niveau des journaux du serveur (défaut : info)")
    p.set_defaults(func=cmd_serve)

    p = add_command(sub, "mcp", "servir le catalogue en serveur MCP (stdio, ou HTTP avec --http)")
    p.add_argument("--http", action="store_true",
                   help="HTTP « streamable » sur --host/--port (chemin /mcp) au lieu de stdio")
    p.add_argument("--host", default="127.0.0.1", metavar="ADRESSE",
                   help="adresse d'écoute avec --http (défaut : 127.0.0.1, cette machine seulement)")
    p.add_argument("--port", type=int, default=8001, help="port d'écoute avec --http (défaut : 8001)")
    p.add_argument("--insecure", action="store_true",
                   help="autorise une adresse hors de cette machine (aucune authentification)")
    p.set_defaults(func=cmd_mcp)
