"""Exit codes of ``session-vault`` and the one-line error a user sees for each failure.

======  ================================================================================
code    meaning
======  ================================================================================
0       success (also: a file that already was in the asked-for state was skipped)
1       another failure (permission denied, a directory that is not writable, disk full,
        keyring entry missing, MongoDB server unreachable...)
2       usage error: bad arguments, no passphrase source, a passphrase variable not set,
        no matching new passphrase after 3 attempts, no key slot with that id
3       wrong passphrase or key: no key slot opened
4       file (or MongoDB session) not found; a directory without any session file
5       the session is in use: a running client has it open (stop it first)
6       damaged or unknown data: not a session file, unknown schema, corrupted envelope,
        invalid session string
7       refused in this state: not encrypted (run ``encrypt`` first), last key slot, the
        output file exists
8       the OS keyring is missing or would not protect secrets
70      internal error (a bug: rerun with ``--debug`` and report it)
130     interrupted (Ctrl-C)
======  ================================================================================

When several files are processed, the exit code is that of the first file that failed.
"""

from __future__ import annotations

import enum

from ..errors import (
    CorruptedError,
    InvalidSessionString,
    KeyringUnavailableError,
    KeySlotError,
    PlaintextSessionError,
    SchemaError,
    SessionInUseError,
    VaultError,
    WrongKeyError,
)

__all__ = ["CliError", "Exit", "exit_code"]


class Exit(enum.IntEnum):
    """The documented exit codes (see the module docstring)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    WRONG_KEY = 3
    NOT_FOUND = 4
    IN_USE = 5
    BAD_DATA = 6
    REFUSED = 7
    KEYRING = 8
    INTERNAL = 70
    INTERRUPTED = 130


class CliError(VaultError):
    """A failure the command line reports as one line, with its exit code."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code


# Most specific first: UnsupportedFormatError is a CorruptedError, and so on.
_CODES: tuple[tuple[type[BaseException], Exit], ...] = (
    (WrongKeyError, Exit.WRONG_KEY),
    (SessionInUseError, Exit.IN_USE),
    (SchemaError, Exit.BAD_DATA),
    (CorruptedError, Exit.BAD_DATA),
    (InvalidSessionString, Exit.BAD_DATA),
    (PlaintextSessionError, Exit.REFUSED),
    (KeySlotError, Exit.REFUSED),
    (KeyringUnavailableError, Exit.KEYRING),
    (FileNotFoundError, Exit.NOT_FOUND),
    (VaultError, Exit.FAILURE),
    (OSError, Exit.FAILURE),
)


def exit_code(error: BaseException) -> Exit:
    """The exit code for ``error``; :attr:`Exit.INTERNAL` for anything unexpected."""
    if isinstance(error, CliError):
        return error.code
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return Exit.INTERNAL
