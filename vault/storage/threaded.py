"""ThreadedConnection: an aiosqlite connection that runs a whole function on its thread."""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite

__all__ = ["ThreadedConnection", "connect"]

T = TypeVar("T")


class ThreadedConnection(aiosqlite.Connection):
    """An :class:`aiosqlite.Connection` with :meth:`run`, so that a write transaction costs
    one hand-over to the connection's thread instead of one per statement.

    Each hand-over (a "hop") costs about as much as writing a thousand small rows, so a
    transaction made of ``BEGIN``, the statements and ``COMMIT`` as three aiosqlite calls is
    mostly waiting. aiosqlite has no public call for "run this function on your thread", but
    every one of its methods goes through ``Connection._execute``; this subclass calls that
    one method and nothing else of aiosqlite's internals, so the rest of the connection (its
    thread, ``close()``, every other method) stays aiosqlite's own.
    """

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Call ``work`` with the :class:`sqlite3.Connection` on the connection's thread and
        return its result; the event loop runs meanwhile."""
        result: T = await self._execute(lambda: work(self._conn))  # type: ignore[no-untyped-call]
        return result


def connect(database: str | os.PathLike[str], **kwargs: Any) -> ThreadedConnection:
    """Like :func:`aiosqlite.connect` (``kwargs`` go to :func:`sqlite3.connect`), for a
    :class:`ThreadedConnection`; await the result to open it."""
    return ThreadedConnection(
        functools.partial(sqlite3.connect, os.fspath(database), **kwargs), iter_chunk_size=64
    )
