"""Session files as the command line opens them: a storage over a file at any path (a
temporary copy keeps the real session name, which the envelope binds) and a read-only
snapshot that never changes the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

import aiosqlite

from ..errors import SchemaError
from ..storage import FileStorage, SQLiteStorage
from ..storage.schema import detect_version, is_not_a_database
from .exits import CliError, Exit

__all__ = ["SCHEMA_NAMES", "SUFFIX", "SessionFile", "Snapshot", "existing_file", "session_name"]

SUFFIX = FileStorage.FILE_EXTENSION

#: Schema versions by the clients that write them (for ``info``).
SCHEMA_NAMES = {
    1: "Pyrogram 1.x",
    2: "Pyrogram 1.x",
    3: "Pyrogram 2.x",
    4: "Pyrofork / vault",
    7: "Kurigram / Irenogram",
}


def session_name(path: Path) -> str:
    """The session name of a file, as ``FileStorage(name)`` would call it: the file name
    without ``.session``. The encryption binds this name, so a renamed file needs ``rebind``."""
    name = path.name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) and name != SUFFIX else name


def existing_file(path: Path) -> Path:
    """``path`` if it is a file, else a "not found" error."""
    if not path.is_file():
        what = "is a directory, not a session file" if path.is_dir() else "does not exist"
        raise CliError(Exit.NOT_FOUND, f"{path} {what}; check the path")
    return path


class SessionFile(FileStorage):
    """:class:`~vault.storage.FileStorage` over a file at any path, with the session name
    given separately (the name a temporary copy keeps, so the envelope binds the real one)."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        super().__init__(session_name(path) if name is None else name, workdir=path.parent)
        self.database = path


class Snapshot(SQLiteStorage):
    """A read-only view of a session file: ``open()`` copies it into memory, so nothing done
    through this storage (schema migration included) ever changes the file.

    :attr:`source_version` is the schema version the file itself has.
    """

    def __init__(self, path: Path, name: str | None = None) -> None:
        super().__init__(session_name(path) if name is None else name)
        self.path = path
        self.source_version: int | None = None

    async def open(self) -> None:
        self._check_can_open()
        existing_file(self.path)
        memory = await aiosqlite.connect(":memory:", isolation_level=None)
        try:
            # mode=rw never creates a file; reading without writing leaves its bytes as they were.
            source = await aiosqlite.connect(f"file:{quote(str(self.path))}?mode=rw", uri=True)
            try:
                await source.backup(memory)
            finally:
                await source.close()
            self.source_version = await _version(memory, self.path)
        except BaseException as error:
            await memory.close()
            if isinstance(error, sqlite3.DatabaseError) and is_not_a_database(error):
                raise SchemaError(
                    f"{self.path} is not an SQLite database (or is damaged); check the path, "
                    "or restore the file from a backup"
                ) from None
            raise
        if self.source_version is None:
            await memory.close()
            raise SchemaError(f"{self.path} is empty: it holds no session")
        self.conn = memory
        await self.create()


async def _version(conn: aiosqlite.Connection, path: Path) -> int | None:
    tables = {r[0] for r in await conn.execute_fetchall("SELECT name FROM sqlite_master")}
    rows: list[tuple[object, ...]] = []
    if "version" in tables:
        try:
            rows = [tuple(r) for r in await conn.execute_fetchall("SELECT number FROM version")]
        except sqlite3.OperationalError:
            raise SchemaError(
                f"{path} is not a Pyrogram-family session (its version table has "
                "another layout, as in Telethon files); check the path. A Telethon file is "
                "encrypted in Python with vault.telethon.encrypt_session_file() (see "
                "docs/telethon.md), or use `session-vault import` with its session string"
            ) from None
    return detect_version(tables, rows)
