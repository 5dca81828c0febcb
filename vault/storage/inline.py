"""InlineConnection: a plain ``sqlite3`` connection behind the aiosqlite methods vault uses."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["InlineConnection"]

T = TypeVar("T")


class InlineConnection:
    """Runs each call at once on the calling thread, for a database in this process's memory.

    An in-memory statement takes microseconds, far less than handing it to a worker thread
    (what :class:`aiosqlite.Connection` does), so :class:`~vault.storage.MemoryStorage` runs
    SQL inline. Big writes stay short because callers pass them in chunks: :meth:`executemany`
    yields to the event loop after each one.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.raw = conn

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        """Run one statement and return all its rows."""
        return self.raw.execute(sql, tuple(parameters)).fetchall()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each parameter row, then let other tasks run."""
        self.raw.executemany(sql, parameters)
        await asyncio.sleep(0)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Call ``work`` with the :class:`sqlite3.Connection` and return its result (the same
        call as :meth:`~vault.storage.threaded.ThreadedConnection.run`, without a thread)."""
        return work(self.raw)

    async def rollback(self) -> None:
        """Roll back the open transaction."""
        self.raw.rollback()

    async def close(self) -> None:
        """Close the database; everything in it is gone."""
        self.raw.close()
