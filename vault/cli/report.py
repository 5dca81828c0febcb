"""What a command reports: one line per session on stdout (errors on stderr), or with
``--json`` one JSON document for the whole run, failures included.

The document (``docs/cli.md`` describes it)::

    {"command": "encrypt", "exit_code": 0,
     "results": [{"target": "a.session", "ok": true, "output": "encrypted a.session (...)"},
                 {"target": "b.session", "ok": false,
                  "error": {"exit_code": 6, "message": "..."}}],
     "error": null}

``info`` results carry ``"info"`` (the session's facts) instead of ``"output"``; ``error`` is
set when the run failed before any session (a usage error, a missing passphrase variable).
Warnings stay on stderr.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any

from .exits import Exit, exit_code

__all__ = ["PROG", "Report", "describe_error"]

PROG = "session-vault"

#: Python argument names in library messages, and the flags the command line has for them.
_CLI_WORDS = {
    "keyring=True": "--keyring",
    "(in Python: storage.slots.cover(...))": "(name its passphrase or key with another option "
    "as well, e.g. --passphrase-file together with --key-file)",
}


def describe_error(error: BaseException, path: Path | str | None = None) -> tuple[int, str]:
    """The exit code and the one-line message for ``error`` (``path``: the session it hit,
    named first unless the message already names it)."""
    code = _code(error)
    if code == Exit.INTERNAL:
        message = f"unexpected {type(error).__name__}: {error}; rerun with --debug and report it"
    elif isinstance(error, OSError) and error.strerror and not isinstance(error, sqlite3.Error):
        message = f"{error.strerror}: {error.filename or ''}"
    else:
        message = str(error)
    for python, flag in _CLI_WORDS.items():
        message = message.replace(python, flag)
    message = " ".join(message.split())
    if path is not None and str(path) not in message:
        message = f"{path}: {message}"
    return code, message


def _code(error: BaseException) -> int:
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return Exit.IN_USE
    if isinstance(error, sqlite3.DatabaseError):
        return Exit.BAD_DATA
    return exit_code(error)


class Report:
    """The outcomes of one run; the exit code is that of the first failure."""

    def __init__(self, command: str, *, as_json: bool, debug: bool) -> None:
        self.command = command
        self.as_json = as_json
        self.debug = debug
        self.exit_code = 0
        self.results: list[dict[str, Any]] = []
        self.error: dict[str, Any] | None = None

    def success(self, target: str, outcome: str | dict[str, Any]) -> None:
        """Record (in text mode: print) a session's outcome: a line, or ``info``'s facts."""
        if not self.as_json:
            assert isinstance(outcome, str)
            print(outcome, flush=True)
            return
        key = "output" if isinstance(outcome, str) else "info"
        self.results.append({"target": target, "ok": True, key: outcome})

    def failure(self, error: BaseException, target: str | None, *, name: bool = True) -> int:
        """Record (in text mode: print on stderr) a failure; ``target`` is the session it hit
        (``None``: the run failed before any), named in the text line when ``name``."""
        code, message = describe_error(error, target if name else None)
        if self.debug:
            traceback.print_exception(error)
        self.exit_code = self.exit_code or code
        if not self.as_json:
            print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
        elif target is None:
            self.error = {"exit_code": code, "message": message}
        else:
            entry = {"exit_code": code, "message": message}
            self.results.append({"target": target, "ok": False, "error": entry})
        return code

    def finish(self) -> int:
        """Print the JSON document (with ``--json``); return the exit code."""
        if self.as_json:
            document = {
                "command": self.command,
                "exit_code": self.exit_code,
                "results": self.results,
                "error": self.error,
            }
            print(json.dumps(document, indent=2), flush=True)
        return self.exit_code
