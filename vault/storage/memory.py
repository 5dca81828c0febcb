"""MemoryStorage: a session that lives only in this process, resumable from a session string."""

from __future__ import annotations

import sqlite3

from ..session_string import SessionData, decode_session_string
from ._database import Database, memory_uri
from .sqlite import SQLiteStorage

__all__ = ["MemoryStorage"]


class MemoryStorage(SQLiteStorage):
    """A session in an in-memory SQLite database: nothing is ever written to disk.

    Pass ``session_string`` (a Pyrogram session string, any of its formats) to resume a
    session; it is decoded at once, so a malformed string raises
    :class:`~vault.errors.InvalidSessionString` here rather than at ``open()``. Everything is
    lost when the storage is closed: export a session string first if you need it again.
    """

    #: Each chunk runs on the event loop (no thread), so it is kept to a few milliseconds.
    WRITE_CHUNK = 100

    def __init__(self, name: str = ":memory:", session_string: str | None = None) -> None:
        super().__init__(name)
        self._initial: SessionData | None = (
            decode_session_string(session_string) if session_string else None
        )

    async def open(self) -> None:
        """Create the in-memory database and load the session string, if one was given."""
        # No thread hop: every statement on an in-memory database is short, and big writes
        # are chunked. Reads go through a second connection to the same database (SQLite's
        # memdb VFS), which sees committed data only.
        uri = memory_uri()
        self.conn = Database.connect(uri, threaded=False, uri=True)
        await self.create()
        self._use_reader(sqlite3.connect(uri, uri=True, check_same_thread=False), concurrent=False)
        if self._initial is not None:
            await self.load_session_data(self._initial)

    async def delete(self) -> None:
        """Nothing is stored outside this process, so there is nothing to delete."""
