"""SQLiteStorage: the schema, migrations and every SQL statement, on aiosqlite."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any, Final

import aiosqlite

from ..errors import StorageClosedError, StorageNotOpenError, StorageStateError
from ..peers import PeerRow, get_input_peer
from . import redaction
from .base import UNSET, StateRow, Unset
from .fields import FieldStorage
from .inline import InlineConnection
from .schema import (
    SCHEMA_VERSION,
    create_statements,
    detect_version,
    migration_statements,
)
from .sqlite_errors import open_failure, read_failure, write_failure

__all__ = ["SQLiteStorage"]

log = logging.getLogger(__name__)
redaction.install()

_SESSION_COLUMNS: Final = frozenset(
    {"dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot"}
)
_BOOL_COLUMNS: Final = frozenset({"test_mode", "is_bot"})
_BY_ID: Final = itemgetter(0)
_PEER_BY_ID: Final = "SELECT id, access_hash, type FROM peers WHERE id = ?"
# No LIMIT: with one, SQLite's sorter takes a slower path for the usual single row. Callers
# fetch all rows, so no statement is left running (see _reading).
_PEER_BY_USERNAME: Final = (
    "SELECT id, access_hash, type, last_update_on FROM peers WHERE username = ? "
    "ORDER BY last_update_on DESC"
)

#: A connection ``create()`` and the writes use: aiosqlite's, or an inline one (memory).
Connection = aiosqlite.Connection | InlineConnection


class SQLiteStorage(FieldStorage):
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

    Reads go through ``self.conn`` too, one worker-thread hop each, unless the subclass gives
    a plain :class:`sqlite3.Connection` to :meth:`_use_reader`: then reads run on the calling
    thread with no hop, as FileStorage and MemoryStorage do. Big writes run in chunks, so the
    event loop is never held for long.
    """

    #: Peer rows written per statement batch; between batches other tasks run.
    WRITE_CHUNK: int = 2000

    VERSION: Final = SCHEMA_VERSION

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.conn: Connection | None = None
        self._live: Connection | None = None  # the connection create() accepted
        self._reader: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # the reader's, reused: saves a cursor a read
        self._writing = False
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
        version: int | None = None
        try:
            await conn.execute_fetchall("PRAGMA secure_delete = ON")
            async with self._transaction(vault_errors=False) as db:
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
        except (sqlite3.Error, UnicodeDecodeError) as error:
            # UnicodeDecodeError: SQLite's message about a damaged schema quotes its bytes.
            await self._abandon()
            raise open_failure(error, version) from None
        except BaseException:
            await self._abandon()
            raise

    def _use_reader(self, reader: sqlite3.Connection) -> None:
        """Read through ``reader`` from now on, on the calling thread, in autocommit mode
        (``isolation_level=None``). It must reach the database ``self.conn`` writes to and see
        its commits at once: a second connection to a WAL file, or the very connection behind
        an :class:`~vault.storage.inline.InlineConnection`. It is closed with the storage.

        Between writes the reader keeps one read transaction open, which saves starting one
        per lookup; it is ended before every write, and reads made while a write is running
        start none, so each read sees every write whose call has returned.
        """
        self._reader, self._cursor = reader, reader.cursor()

    def _end_read(self) -> None:
        reader = self._reader
        if reader is not None and reader.in_transaction:
            reader.execute("COMMIT")

    async def _abandon(self) -> None:
        """Close a connection that failed to open; the object stays unopened, so ``open()``
        may be tried again."""
        conn, self._live, self.conn = self._live, None, None
        self._close_reader()
        if conn is not None:
            await conn.close()

    def _close_reader(self) -> None:
        reader, self._reader, self._cursor = self._reader, None, None
        if reader is not None:
            reader.close()

    async def save(self) -> None:
        """Record the save date. Every write is already committed when its call returns."""
        await self.date(self._now())

    async def close(self) -> None:
        """Close the database. Closing twice, or before ``open()``, does nothing."""
        conn, self._live, self.conn = self._live, None, None
        if conn is not None:
            self._closed = True
            async with self._write_lock:
                self._close_reader()
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
        async with self._writer() as db:
            await db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- plumbing ----------------------------------------------------------------------------

    def _db(self) -> Connection:
        if self._live is None:
            if self._closed:
                raise StorageClosedError(
                    f"{self!r} is closed; create a new storage object to use the session again"
                )
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return self._live

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[Connection]:
        """Exclusive use of the write connection; the reader holds no snapshot meanwhile."""
        async with self._write_lock:
            db = self._db()
            self._writing = True
            try:
                self._end_read()
                yield db
            finally:
                self._writing = False

    @asynccontextmanager
    async def _transaction(self, *, vault_errors: bool = True) -> AsyncIterator[Connection]:
        """One write transaction; writers are serialised so coroutines never interleave them.
        SQLite's errors become vault's, unless ``vault_errors`` is false (``create()`` tells
        them apart itself)."""
        async with self._writer() as db:
            try:
                await db.execute_fetchall("BEGIN IMMEDIATE")
                try:
                    yield db
                    await db.execute_fetchall("COMMIT")
                except BaseException:
                    await db.rollback()
                    raise
            except sqlite3.Error as error:
                if not vault_errors:
                    raise
                raise write_failure(error) from None

    def _reading(self) -> sqlite3.Cursor | None:
        """The reader's cursor, ready for a query on the calling thread (see
        :meth:`_use_reader`); ``None`` when reads go through ``self.conn``. Fetch every row a
        query yields (all of vault's yield at most one, or use ``fetchall``), so that no
        statement is left running to hold a read transaction past ``_end_read``."""
        reader = self._reader
        if reader is not None and not (self._writing or reader.in_transaction):
            reader.execute("BEGIN")
        return self._cursor

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            cursor = self._reading()
            if cursor is None:
                return list(await self._db().execute_fetchall(sql, params))
            return cursor.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise read_failure(error) from None

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            cursor = self._reading()
            if cursor is None:
                return next(iter(await self._db().execute_fetchall(sql, params)), None)
            return cursor.execute(sql, params).fetchone()
        except sqlite3.DatabaseError as error:
            raise read_failure(error) from None

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self._transaction() as db:
            await db.execute_fetchall(sql, params)

    # --- peer cache --------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[PeerRow]) -> None:
        # The save date goes into the SQL as a literal: no new tuple per row, which keeps a
        # 100k-peer update from waking the garbage collector on the event loop.
        sql = (
            "REPLACE INTO peers (id, access_hash, type, username, phone_number, "
            f"last_update_on) VALUES (?, ?, ?, ?, ?, {int(self._now())})"
        )
        source = iter(peers)

        def chunk() -> list[PeerRow]:
            rows = list(itertools.islice(source, self.WRITE_CHUNK))
            # In id order the rows land on neighbouring pages; the sort is stable, so of two
            # rows for one peer the later still wins.
            rows.sort(key=_BY_ID)
            return rows

        rows = chunk()
        if not rows:
            return
        async with self._transaction() as db:
            while rows:
                await db.executemany(sql, rows)
                rows = chunk()

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
        # The hottest call of a running client: no await on the reader's path.
        cursor = self._reading()
        row = (
            cursor.execute(_PEER_BY_ID, (peer_id,)).fetchone()
            if cursor is not None
            else await self._fetchone(_PEER_BY_ID, (peer_id,))
        )
        if row is None:
            raise KeyError(f"ID not found: {peer_id}")
        return get_input_peer(*row)

    async def get_peer_by_username(self, username: str) -> Any:
        cursor = self._reading()
        rows = (
            cursor.execute(_PEER_BY_USERNAME, (username,)).fetchall()
            if cursor is not None
            else await self._fetchall(_PEER_BY_USERNAME, (username,))
        )
        row = rows[0] if rows else None
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
        return get_input_peer(row[0], row[1], row[2])

    def _expired(self, last_update_on: int) -> bool:
        return abs(self._now() - last_update_on) > self.USERNAME_TTL

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        row = await self._fetchone(
            "SELECT id, access_hash, type FROM peers WHERE phone_number = ? LIMIT 1",
            (phone_number,),
        )
        if row is None:
            raise KeyError(f"Phone number not found: {phone_number}")
        return get_input_peer(*row)

    # --- update state ------------------------------------------------------------------------

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        if value is UNSET:
            rows = await self._fetchall(
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

    async def version(self) -> int:
        """The schema version of the open database."""
        row = await self._fetchone("SELECT number FROM version")
        return int(row[0])
