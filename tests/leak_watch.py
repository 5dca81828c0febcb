"""A watch on every log record vault emits during the whole test run.

``tests/reliability/test_leaks.py`` scans chosen operations for known secrets. This watch
covers everything else the suite does: it sets vault's loggers to DEBUG for the whole run,
keeps each record's text (message, arguments and formatted traceback) and, when the run ends,
fails it if a record holds

* a secret the test modules define (their ``*PASSPHRASE*``, ``*AUTH_KEY*``, ``*RAW_KEY*`` and
  ``PLAIN`` constants, in the forms ``test_leaks.needles`` lists), or
* anything shaped like an auth key or a session string, whoever made it: a run of 128 or more
  hex digits, 300 or more base64 characters, or a bytes literal of 32 or more bytes.

aiosqlite's records are watched too: they would carry SQL parameters if vault's filter
(:mod:`vault.storage.redaction`) did not hide them.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, Final

import pytest

_SHAPES: Final = re.compile(
    r"[0-9a-fA-F]{128,}|[A-Za-z0-9+/=_-]{300,}"
    r"|b'(?:\\x[0-9a-f]{2}|\\.|[^'\\]){32,}'"
    r'|b"(?:\\x[0-9a-f]{2}|\\.|[^"\\]){32,}"',
)
_CONSTANT_NAMES: Final = ("PASSPHRASE", "AUTH_KEY", "RAW_KEY")


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: set[str] = set()  # a set: aiosqlite repeats the same few lines
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.add(f"{self.format(record)} {record.args!r}")


_collector = _Collector()
_found: list[str] = []
_LOGGERS: Final = tuple(logging.getLogger(name) for name in ("vault", "aiosqlite"))


def _forms(secret: bytes | str) -> list[str]:
    if isinstance(secret, str):
        return [secret] if len(secret) >= 8 else []
    return [
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:40],
    ]


def _known_secrets() -> dict[str, list[str]]:
    """The secrets the loaded test modules define, by ``module.NAME``."""
    found: dict[str, list[str]] = {}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("tests.") or module is None:
            continue
        for name, value in vars(module).items():
            wanted = name == "PLAIN" or any(part in name for part in _CONSTANT_NAMES)
            if wanted and name.isupper() and isinstance(value, bytes | str):
                forms = _forms(value)
                if forms:
                    found[f"{module_name}.{name}"] = forms
    return found


def leaks(texts: Iterable[str]) -> list[str]:
    """What in ``texts`` looks like a leaked secret, one line each."""
    secrets = _known_secrets()
    found = []
    for text in texts:
        found += [
            f"{name} in {text[:100]!r}"
            for name, forms in secrets.items()
            if any(form in text for form in forms)
        ]
        shape = _SHAPES.search(text)
        if shape is not None:
            found.append(f"a key-shaped run of {len(shape.group())} characters in {text[:100]!r}")
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    for logger in _LOGGERS:
        logger.setLevel(logging.DEBUG)
        logger.addHandler(_collector)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for logger in _LOGGERS:
        logger.removeHandler(_collector)
    _found.extend(leaks(_collector.texts))
    if _found:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("leak watch")
    terminalreporter.write_line(
        f"{len(_collector.texts)} distinct vault and aiosqlite log records scanned, "
        f"{len(_found)} leaks"
    )
    for line in _found[:20]:
        terminalreporter.write_line(f"  {line}")
