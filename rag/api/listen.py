"""The listening socket of ``python -m rag serve`` and ``mcp --http``, bound before
anything slow (indexing, model load), then served by uvicorn.

Binding first means a busy port, an unknown host or an address of another machine is one
French sentence saying what to change, at once, instead of uvicorn's English
``[Errno 98]`` after the whole warm-up.
"""

from __future__ import annotations

import errno
import socket

from starlette.types import ASGIApp

from rag.errors import ConfigError


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); ``ConfigError`` (French)
    when that is impossible."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"port invalide : {port} (entre 1 et 65535) : choisissez-en un autre (--port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError):
        raise ConfigError(f"adresse d'écoute inconnue « {host} » : donnez une adresse de cette machine "
                          "(--host 127.0.0.1, ou 0.0.0.0 pour toutes)") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(_bind_failure(exc, host, port)) from None
    sock.set_inheritable(True)
    return sock


def _bind_failure(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"le port {port} est déjà utilisé sur {host} (un autre serveur, ou ce même serveur déjà lancé) : "
                "arrêtez-le, ou choisissez un autre port (--port)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"l'adresse {host} n'appartient pas à cette machine : écoutez sur 127.0.0.1, ou sur 0.0.0.0 "
                "pour toutes ses adresses (--host)")
    if exc.errno == errno.EACCES:
        return (f"accès refusé au port {port} (sous 1024, il faut des droits d'administrateur) : "
                "choisissez un port au-dessus de 1024 (--port)")
    return f"impossible d'écouter sur {host}:{port} ({exc.strerror}) : vérifiez --host et --port"


def run(app: ASGIApp, sock: socket.socket, log_level: str = "info") -> None:
    """Serve ``app`` on uvicorn over ``sock`` until interrupted; ``ConfigError`` when the
    application does not start (uvicorn logs the reason, then exits)."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           timeout_graceful_shutdown=5))
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn's exit when the start-up (index, data dir) fails
        raise ConfigError("le serveur n'a pas démarré : la raison est dans les messages ci-dessus "
                          "(vérifiez RAG_DATA_DIR et RAG_CORPUS_DIR)") from None
