"""A custom SQLite storage: SQLite behaviour with a connection of your own choosing.

``SQLiteStorage`` owns the schema, the migrations and all SQL; a subclass only opens the
connection, as the Pyrogram-family docs show: a ``sqlite3.Connection`` and ``self.create()``.
Here the database lives at a path of our choosing with a longer busy timeout.
Run it: ``python examples/custom_sqlite_storage.py``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path

from vault.storage import SQLiteStorage


class CustomStorage(SQLiteStorage):
    """A session in any SQLite file, opened with our own connection settings."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        super().__init__(name)
        self.path = Path(path)

    async def open(self) -> None:
        self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.create()  # creates the schema, or migrates an older session file


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with CustomStorage("custom", Path(tmp) / "custom_path.db") as storage:
            await storage.dc_id(4)
            await storage.update_peers([(42, 4242, "user", "alice", None)])
            print("dc_id:", await storage.dc_id())
            print("peer:", await storage.get_peer_by_username("alice"))


if __name__ == "__main__":
    asyncio.run(main())
