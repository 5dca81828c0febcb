"""Keep secrets out of aiosqlite's debug log.

aiosqlite logs every call it hands to its thread at DEBUG level, with the call's arguments:
the SQL parameters, an auth key among them. A filter on its logger replaces those arguments
before any handler formats them; the message itself ("executing %s") is kept.
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["install"]

REDACTED: Final = "<arguments hidden by session-vault>"


class _HideCallArguments(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(REDACTED for _ in args)
        return True


_FILTER: Final = _HideCallArguments()


def install() -> None:
    """Attach the filter to the ``aiosqlite`` logger (idempotent)."""
    logger = logging.getLogger("aiosqlite")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
