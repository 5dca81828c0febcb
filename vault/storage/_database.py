"""One SQLite database as :class:`~vault.storage.SQLiteStorage` uses it: a write path and a
read path, on :mod:`sqlite3` alone.

* The writer is one :class:`sqlite3.Connection` in autocommit mode. Its work runs either on a
  worker thread of its own (a file: a commit waits for the disk) or at once on the calling
  thread (memory, or a connection a subclass made). The worker is a daemon thread, so a
  storage left open never keeps the process from exiting.
* The reader is the connection point reads use, on the calling thread with no hand-over. It
  sees only committed data: a second connection to the same database (a WAL file, or an
  in-memory database on SQLite's ``memdb`` VFS), or for a connection a subclass made, the
  writer itself, read only while no write transaction is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["Database", "memory_uri"]

T = TypeVar("T")

_names: Final = itertools.count(1)


def memory_uri() -> str:
    """A URI for a new in-memory database that several connections of this process share
    (SQLite's ``memdb`` VFS; pass ``uri=True``). It is gone when its last connection closes."""
    return f"file:/vault-memory-{secrets.token_hex(8)}?vfs=memdb"


class _Worker:
    """A daemon thread that runs the functions given to :meth:`run`, one after another."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[Callable[[], Any], asyncio.Future[Any], asyncio.AbstractEventLoop] | None
        ] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            work, future, loop = job
            try:
                result, error = work(), None
            except BaseException as failure:  # handed to the waiting coroutine
                result, error = None, failure
            # RuntimeError: the event loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, future, result, error)
            del job, work, future, result, error

    async def run(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the thread; the event loop runs meanwhile. If the caller is
        cancelled, ``work`` still runs to its end, before anything submitted later."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((work, future, loop))
        return await future

    def stop(self) -> None:
        """End the thread once the work given so far is done."""
        self._jobs.put(None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Database:
    """The writer and reader of one SQLite database (see the module docstring).

    ``threaded`` runs the writer's work on a daemon worker thread, else on the calling thread.
    """

    def __init__(self, writer: sqlite3.Connection, *, threaded: bool) -> None:
        self.writer = writer
        self._worker = _Worker(f"vault-sqlite-writer-{next(_names)}") if threaded else None
        self.reader: sqlite3.Connection | None = None
        #: Whether the reader may read while a write transaction is open (only a second
        #: connection to a WAL file can; other reads wait for the transaction to end).
        self.concurrent_reads = False

    @classmethod
    def connect(
        cls, database: str | os.PathLike[str], *, threaded: bool, uri: bool = False
    ) -> Database:
        """A new writer connection (autocommit mode) to ``database``."""
        writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False, uri=uri)
        return cls(writer, threaded=threaded)

    @property
    def inline(self) -> bool:
        """Whether the writer's work runs on the calling thread."""
        return self._worker is None

    def add_reader(self, reader: sqlite3.Connection, *, concurrent: bool) -> None:
        """Read through ``reader`` (autocommit mode; query only unless it is the writer)
        from now on; it is closed with the database."""
        reader.isolation_level = None
        if reader is not self.writer:
            reader.execute("PRAGMA query_only = ON")
        self.reader, self.concurrent_reads = reader, concurrent

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Call ``work`` with the writer connection, on the writer's thread."""
        if self._worker is None:
            return work(self.writer)
        writer = self.writer
        return await self._worker.run(lambda: work(writer))

    async def execute_fetchall(self, sql: str, parameters: Any = ()) -> list[Any]:
        """Run one statement on the writer and return all its rows."""
        return await self.run(lambda conn: conn.execute(sql, parameters).fetchall())

    async def close(self) -> None:
        """Close the reader, then the writer (after the work given to it so far)."""
        reader, self.reader = self.reader, None
        if reader is not None and reader is not self.writer:
            reader.close()
        try:
            await self.run(sqlite3.Connection.close)
        finally:
            if self._worker is not None:
                self._worker.stop()
