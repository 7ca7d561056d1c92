"""The command line: ``python -m rag`` and the ``fiches-rag`` script."""

from rag.cli.main import main

__all__ = ["main"]
