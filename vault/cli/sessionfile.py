"""Session files as the command line sees them: a path, the session name bound into its
envelope, a read-only view that never changes the file, and what the file holds."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiosqlite

from ..crypto.envelope import Header, Purpose, is_envelope, parse
from ..errors import CorruptedError, SchemaError
from ..session_string import AUTH_KEY_SIZE
from ..storage import FileStorage, SQLiteStorage
from ..storage.schema import detect_version, is_not_a_database
from .exits import CliError, Exit

__all__ = [
    "SessionFile",
    "SessionView",
    "Snapshot",
    "read_view",
    "session_name",
    "stored_header",
]

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
            self.source_version = await _version(memory)
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


async def _version(conn: aiosqlite.Connection) -> int | None:
    tables = {r[0] for r in await conn.execute_fetchall("SELECT name FROM sqlite_master")}
    rows: list[tuple[object, ...]] = []
    if "version" in tables:
        try:
            rows = [tuple(r) for r in await conn.execute_fetchall("SELECT number FROM version")]
        except sqlite3.OperationalError:
            raise SchemaError(
                "this SQLite file is not a Pyrogram-family session (its version table has "
                "another layout, as in Telethon files); check the path, or use `session-vault "
                "import` with the other client's session string"
            ) from None
    return detect_version(tables, rows)


@dataclass(frozen=True)
class SessionView:
    """What a session file holds, read without any key (no auth key in here)."""

    path: Path
    name: str
    schema_version: int
    header: Header | None  # the envelope header if the auth key is encrypted
    has_auth_key: bool
    dc_id: int | None
    api_id: int | None
    test_mode: bool | None
    user_id: int | None
    is_bot: bool | None
    date: int | None
    peers: int
    usernames: int
    update_states: int

    @property
    def encrypted(self) -> bool:
        return self.header is not None


async def read_view(path: Path) -> SessionView:
    """Read what ``path`` holds without changing it; schema and envelope errors are raised."""
    snapshot = Snapshot(path)
    await snapshot.open()
    try:
        stored = await snapshot.auth_key()
        header = stored_header(stored, path)
        conn = snapshot.conn
        assert conn is not None
        counts = []
        for table in ("peers", "usernames", "update_state"):
            rows = await conn.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
            counts.append(int(next(iter(rows))[0]))
        assert snapshot.source_version is not None
        return SessionView(
            path=path,
            name=snapshot.name,
            schema_version=snapshot.source_version,
            header=header,
            has_auth_key=stored is not None,
            dc_id=await snapshot.dc_id(),
            api_id=await snapshot.api_id(),
            test_mode=await snapshot.test_mode(),
            user_id=await snapshot.user_id(),
            is_bot=await snapshot.is_bot(),
            date=await snapshot.date(),
            peers=counts[0],
            usernames=counts[1],
            update_states=counts[2],
        )
    finally:
        await snapshot.close()


def stored_header(stored: bytes | None, where: object) -> Header | None:
    """The envelope header of a stored auth key field; ``None`` for a plain key or none."""
    if stored is None or _is_plain(stored):
        return None
    if not is_envelope(stored):
        raise CorruptedError(
            f"the auth key field of {where} holds {len(stored)} bytes that are neither "
            "a plain auth key nor a session-vault envelope; restore it from a backup"
        )
    return parse(bytes(stored), Purpose.AUTH_KEY).header


async def read_plain_auth_key(path: Path) -> bytes:
    """The auth key of a plaintext session file (read-only)."""
    snapshot = Snapshot(path)
    await snapshot.open()
    try:
        stored = await snapshot.auth_key()
    finally:
        await snapshot.close()
    if stored is None or not _is_plain(stored):
        raise CliError(Exit.REFUSED, f"{path} holds no plaintext auth key")
    return bytes(stored)


def _is_plain(stored: bytes) -> bool:
    return len(stored) == AUTH_KEY_SIZE
