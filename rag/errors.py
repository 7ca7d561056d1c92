"""The exception tree. Every message says what went wrong *and how to fix it*.

::

    RagError                      base of everything we raise on purpose
    ├── ConfigError               a setting has an invalid value (lists the valid ones)
    ├── InputError                a bad user input: empty question, unknown filter, bad file
    │   ├── ImportFailed          an export could not be imported (missing, empty, binary, no fiche)
    │   └── ConversationNotFound  no conversation (or turn) with this id for this user
    ├── CorpusError               a Markdown fiche file is malformed (carries path and line)
    ├── IndexUnavailable          the index is missing, corrupt, foreign or locked: re-index
    │   ├── EmbedderMismatch      the index was built with another embedder
    │   └── IndexLocked           another process is writing the same data dir
    ├── StoreUnavailable          the Chroma server cannot be reached
    ├── DatabaseError             the conversations database failed: answer on, without saving
    │   ├── DatabaseUnavailable   cannot be reached or opened (PostgreSQL down, missing folder)
    │   ├── DatabaseLocked        the SQLite file stays locked by another program
    │   ├── DatabaseCorrupt       the file is not a (sound) SQLite database
    │   ├── DatabaseReadOnly      the file or its folder cannot be written
    │   └── DatabaseSchemaTooNew  written by a newer version of the app (unknown migration)
    └── BackendError              an LLM backend failed (« moteur « openai » : … », what to check)
        ├── BackendUnavailable    connection refused / timed out
        ├── BackendAuthError      401/403: check the API key env var
        ├── BackendModelNotFound  404: check the model name
        └── BackendProtocolError  the server answered something we cannot parse

The CLI prints ``str(error)`` on one line to stderr and exits non-zero; the UI shows it
in the chat. No traceback reaches a user.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class of the errors we raise on purpose; ``str()`` is user-facing."""


class ConfigError(RagError):
    """A setting has an invalid value."""


class InputError(RagError):
    """A bad input from the user."""


class ImportFailed(InputError):
    """An export could not be imported at all."""


class CorpusError(RagError):
    """A Markdown fiche file is malformed."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        self.path, self.line, self.reason = str(path), line, reason
        super().__init__(f"{path}:{line}: {reason}")


class IndexUnavailable(RagError):
    """The index is missing, corrupt or foreign."""


class EmbedderMismatch(IndexUnavailable):
    """The index was built with another embedder than the one configured."""


class IndexLocked(IndexUnavailable):
    """Another process holds the write lock on the data dir."""


class StoreUnavailable(RagError):
    """The Chroma server is unreachable."""


class ConversationNotFound(InputError):
    """No conversation (or turn) with this id belongs to this user."""


class DatabaseError(RagError):
    """The conversations database failed. Catch this one to go on answering without saving."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached or opened (PostgreSQL down, folder missing)."""


class DatabaseLocked(DatabaseError):
    """The SQLite file stayed locked by another program longer than the busy timeout."""


class DatabaseCorrupt(DatabaseError):
    """The file is not a SQLite database, or a damaged one."""


class DatabaseReadOnly(DatabaseError):
    """The database file or its folder cannot be written."""


class DatabaseSchemaTooNew(DatabaseError):
    """The database was migrated by a newer version of the app."""


class BackendError(RagError):
    """An LLM backend failed."""

    def __init__(self, backend: str, message: str) -> None:
        self.backend = backend
        super().__init__(f"moteur « {backend} » : {message}")


class BackendUnavailable(BackendError):
    """The backend cannot be reached or timed out."""


class BackendAuthError(BackendError):
    """The backend refused our credentials."""


class BackendModelNotFound(BackendError):
    """The backend does not know the model."""


class BackendProtocolError(BackendError):
    """The backend answered something we cannot parse."""
