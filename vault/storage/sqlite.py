"""SQLiteStorage: the schema, migrations and every SQL statement, on aiosqlite."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import aiosqlite

from ..errors import SchemaError, StorageClosedError, StorageNotOpenError, StorageStateError
from ..peers import PeerRow, get_input_peer
from .base import UNSET, StateRow, Storage, Unset
from .schema import (
    SCHEMA_VERSION,
    create_statements,
    detect_version,
    is_not_a_database,
    migration_statements,
)

__all__ = ["SQLiteStorage"]

log = logging.getLogger(__name__)

_SESSION_COLUMNS: Final = frozenset(
    {"dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot"}
)
_BOOL_COLUMNS: Final = frozenset({"test_mode", "is_bot"})


class SQLiteStorage(Storage):
    """A session in an SQLite database, reached through :mod:`aiosqlite`.

    It owns the schema, its version table, the migrations from Pyrogram 2.x (version 3) and
    Pyrofork (version 4) files and all SQL. :class:`~vault.storage.FileStorage` and
    :class:`~vault.storage.MemoryStorage` are subclasses that only say where the database is.

    To use another database or connection setting, subclass it: ``open()`` sets ``self.conn``
    to an :class:`aiosqlite.Connection` and calls ``await self.create()``, which creates the
    schema in an empty database or migrates an existing one::

        class CustomStorage(SQLiteStorage):
            async def open(self) -> None:
                self.conn = await aiosqlite.connect("custom_path.db")
                await self.create()

    Every write is committed when its call returns, so nothing written is lost if the process
    dies; ``save()`` only records the save date.
    """

    VERSION: Final = SCHEMA_VERSION

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.conn: aiosqlite.Connection | None = None
        self._live: aiosqlite.Connection | None = None  # the connection create() accepted
        self._closed = False
        self._write_lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Subclasses set ``self.conn`` and call :meth:`create`; see the class docstring."""
        raise NotImplementedError(
            "SQLiteStorage needs a connection: use FileStorage or MemoryStorage, or subclass it "
            "with an open() that sets self.conn and awaits self.create()"
        )

    def _check_can_open(self) -> None:
        """Raise if ``open()`` was already called on this object."""
        if self._closed:
            raise StorageClosedError(
                f"{self!r} was closed; create a new storage object to open the session again"
            )
        if self._live is not None:
            raise StorageStateError(f"{self!r} is already open; open() it only once")

    async def create(self) -> None:
        """Prepare ``self.conn``: create the schema in an empty database, or migrate an older
        Pyrogram-family one in place, inside one transaction.

        Raises :class:`~vault.errors.SchemaError` if the database is not a session database.
        """
        conn = self.conn
        if conn is None:
            raise StorageNotOpenError("create() needs self.conn; set it in open() first")
        if self._live is not None or self._closed:
            # open() ran again on an open or closed storage: keep the state it had.
            if conn is not self._live:
                await conn.close()
            self.conn = self._live
            self._check_can_open()
        self._live = conn
        try:
            await conn.execute_fetchall("PRAGMA secure_delete = ON")
            async with self._transaction() as db:
                tables = {
                    row[0]
                    for row in await db.execute_fetchall(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                }
                version_rows = (
                    [tuple(r) for r in await db.execute_fetchall("SELECT number FROM version")]
                    if "version" in tables
                    else []
                )
                version = detect_version(tables, version_rows)
                if version is None:
                    statements = create_statements()
                    log.debug("creating session schema version %d for %r", SCHEMA_VERSION, self)
                else:
                    statements = migration_statements(version)
                    if version != SCHEMA_VERSION:
                        log.info(
                            "migrating session %r from schema version %d to %d",
                            self.name,
                            version,
                            SCHEMA_VERSION,
                        )
                for statement in statements:
                    await db.execute_fetchall(statement)
        except sqlite3.DatabaseError as error:
            await self._abandon()
            if is_not_a_database(error):
                raise SchemaError(
                    "the session file is not an SQLite database (or is damaged); check the "
                    "path, or restore the file from a backup"
                ) from None
            raise
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Close a connection that failed to open, leaving the object closed."""
        conn, self._live, self.conn = self._live, None, None
        if conn is not None:
            await conn.close()
        self._closed = True

    async def save(self) -> None:
        """Record the save date. Every write is already committed when its call returns."""
        await self.date(self._now())

    async def close(self) -> None:
        """Close the database. Closing twice, or before ``open()``, does nothing."""
        conn, self._live, self.conn = self._live, None, None
        if conn is not None:
            self._closed = True
            async with self._write_lock:
                await conn.close()

    async def delete(self) -> None:
        """Empty every table of the session (subclasses with a file remove the file instead).

        Clients call this after ``close()`` on log-out, so a closed storage is opened again
        through its own ``open()`` just for the wipe.
        """
        if self._live is None:
            self._closed = False
            await self.open()
            try:
                await self._wipe()
            finally:
                await self.close()
        else:
            await self._wipe()

    async def _wipe(self) -> None:
        async with self._transaction() as db:
            for table in ("peers", "usernames", "update_state"):
                await db.execute_fetchall(f"DELETE FROM {table}")
            await db.execute_fetchall(
                "UPDATE sessions SET api_id = NULL, test_mode = NULL, auth_key = NULL, "
                "date = 0, user_id = NULL, is_bot = NULL"
            )

    async def purge_stale_copies(self) -> None:
        """Checkpoint and truncate the write-ahead log, so overwritten pages (an old auth key)
        leave the WAL; ``secure_delete`` already zeroes freed content in the database itself."""
        async with self._write_lock:
            await self._db().execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- plumbing ----------------------------------------------------------------------------

    def _db(self) -> aiosqlite.Connection:
        if self._live is None:
            if self._closed:
                raise StorageClosedError(
                    f"{self!r} is closed; create a new storage object to use the session again"
                )
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return self._live

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; writers are serialised so coroutines never interleave them."""
        async with self._write_lock:
            db = self._db()
            await db.execute_fetchall("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.rollback()
                raise
            await db.execute_fetchall("COMMIT")

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._db().execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self._transaction() as db:
            await db.execute_fetchall(sql, params)

    # --- peer cache --------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[PeerRow]) -> None:
        now = self._now()
        rows = [(*peer, now) for peer in peers]
        if not rows:
            return
        async with self._transaction() as db:
            await db.executemany(
                "REPLACE INTO peers (id, access_hash, type, username, phone_number, "
                "last_update_on) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    async def update_usernames(self, usernames: Iterable[tuple[int, str]]) -> None:
        pairs = list(usernames)
        if not pairs:
            return
        now = self._now()
        async with self._transaction() as db:
            await db.executemany(
                "DELETE FROM usernames WHERE peer_id = ?", [(pid,) for pid in {p for p, _ in pairs}]
            )
            await db.executemany(
                "REPLACE INTO usernames (peer_id, id, last_update_on) VALUES (?, ?, ?)",
                [(peer_id, username, now) for peer_id, username in pairs],
            )

    async def get_peer_by_id(self, peer_id: int) -> Any:
        row = await self._fetchone(
            "SELECT id, access_hash, type FROM peers WHERE id = ?", (peer_id,)
        )
        if row is None:
            raise KeyError(f"ID not found: {peer_id}")
        return get_input_peer(*row)

    async def get_peer_by_username(self, username: str) -> Any:
        row = await self._fetchone(
            "SELECT id, access_hash, type, last_update_on FROM peers WHERE username = ? "
            "ORDER BY last_update_on DESC LIMIT 1",
            (username,),
        )
        if row is None:
            alias = await self._fetchone(
                "SELECT peer_id, last_update_on FROM usernames WHERE id = ? "
                "ORDER BY last_update_on DESC LIMIT 1",
                (username,),
            )
            if alias is None or self._expired(alias[1]):
                raise KeyError(f"Username not found: {username}")
            row = await self._fetchone(
                "SELECT id, access_hash, type, last_update_on FROM peers WHERE id = ?", (alias[0],)
            )
        if row is None or self._expired(row[3]):
            raise KeyError(f"Username not found: {username}")
        return get_input_peer(*row[:3])

    def _expired(self, last_update_on: int) -> bool:
        return abs(self._now() - last_update_on) > self.USERNAME_TTL

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        row = await self._fetchone(
            "SELECT id, access_hash, type FROM peers WHERE phone_number = ?", (phone_number,)
        )
        if row is None:
            raise KeyError(f"Phone number not found: {phone_number}")
        return get_input_peer(*row)

    # --- update state ------------------------------------------------------------------------

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        if value is UNSET:
            rows = await self._db().execute_fetchall(
                "SELECT id, pts, qts, date, seq FROM update_state ORDER BY id"
            )
            return [tuple(row) for row in rows]
        if isinstance(value, int):
            await self._write("DELETE FROM update_state WHERE id = ?", (value,))
        else:
            await self._write(
                "REPLACE INTO update_state (id, pts, qts, date, seq) VALUES (?, ?, ?, ?, ?)",
                tuple(value),
            )
        return None

    # --- session fields ----------------------------------------------------------------------

    async def _field(self, column: str, value: Any) -> Any:
        assert column in _SESSION_COLUMNS  # column names are never user input
        if value is UNSET:
            row = await self._fetchone(f"SELECT {column} FROM sessions")
            result = None if row is None else row[0]
            if column in _BOOL_COLUMNS and result is not None:
                return bool(result)
            return result
        await self._write(f"UPDATE sessions SET {column} = ?", (value,))
        return None

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("dc_id", value)  # type: ignore[no-any-return]

    async def api_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("api_id", value)  # type: ignore[no-any-return]

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("test_mode", value)  # type: ignore[no-any-return]

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        return await self._field("auth_key", value)  # type: ignore[no-any-return]

    async def date(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("date", value)  # type: ignore[no-any-return]

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("user_id", value)  # type: ignore[no-any-return]

    async def is_bot(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("is_bot", value)  # type: ignore[no-any-return]

    async def version(self) -> int:
        """The schema version of the open database."""
        row = await self._fetchone("SELECT number FROM version")
        return int(row[0])
