"""Turn sqlite3's errors into vault's: what went wrong, and what the user can do.

SQLite names each failure (``sqlite_errorname``, Python 3.11+); the names decide the error,
the messages (which may quote damaged bytes) are never shown.
"""

from __future__ import annotations

import sqlite3

from ..errors import (
    InvalidValueError,
    SchemaError,
    SessionInUseError,
    StorageError,
    StorageWriteError,
)

__all__ = ["UNBINDABLE", "open_failure", "read_failure", "write_failure"]

_WRITE_FAILURES = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN")


def _name(error: BaseException) -> str:
    name = getattr(error, "sqlite_errorname", "")
    if not name and isinstance(error, sqlite3.OperationalError):
        # Python 3.10 has no error names; its messages are SQLite's fixed texts.
        text = str(error)
        for words, guess in (
            ("locked", "SQLITE_BUSY"),
            ("disk is full", "SQLITE_FULL"),
            ("disk I/O", "SQLITE_IOERR"),
            ("readonly", "SQLITE_READONLY"),
        ):
            if words in text:
                return guess
    return str(name)


#: What sqlite3 raises for a value it cannot bind: an int past 64 bits, a list, a dict.
UNBINDABLE = (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError)


def write_failure(error: sqlite3.Error | OverflowError) -> StorageError:
    """The vault error for a failed write transaction (which SQLite rolled back)."""
    if isinstance(error, UNBINDABLE):
        return InvalidValueError(
            "a value given is one SQLite cannot store (an integer outside 64 bits, or not a "
            "number, text, bytes or None); nothing was changed. Check what was passed"
        )
    name = _name(error)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return SessionInUseError(
            "the session database is locked by another program; stop the other client "
            "(two clients on one session make Telegram revoke its auth key)"
        )
    if name.startswith(_WRITE_FAILURES):
        return StorageWriteError(
            f"the session could not be written ({name}: disk full, read-only or failing "
            "storage); nothing was changed: free space or fix the file system and try again"
        )
    if name.startswith("SQLITE_CONSTRAINT"):
        return InvalidValueError(
            f"the session database refused the values given ({name}): a required value is "
            "missing or has the wrong type; nothing was changed. Check what was passed"
        )
    return StorageError(
        f"the session database refused a write ({name or type(error).__name__}); nothing "
        "was changed. If this repeats, the file may be damaged: restore it from a backup"
    )


def read_failure(error: sqlite3.DatabaseError) -> StorageError:
    """The vault error for a failed read: damage that opening the file did not reveal."""
    name = _name(error)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return write_failure(error)
    return SchemaError(
        f"the session database could not be read ({name or type(error).__name__}); the file "
        "is damaged or was changed by another program: restore it from a backup"
    )


def open_failure(error: sqlite3.Error | UnicodeDecodeError, version: int | None) -> StorageError:
    """The vault error for a failure while opening: checking, creating or migrating."""
    name = _name(error)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED", *_WRITE_FAILURES)):
        return write_failure(error)  # type: ignore[arg-type]
    if version is not None:
        return SchemaError(
            f"migrating the session from schema version {version} failed "
            f"({name or type(error).__name__}); the file was left unchanged. It may have been "
            "edited by another program: restore it from a backup"
        )
    return SchemaError(
        "the session file is not an SQLite session database, or it is damaged; check the "
        "path, or restore the file from a backup"
    )
