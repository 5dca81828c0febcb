"""SQLiteStorage: the schema, migrations and every SQL statement, on aiosqlite."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any, Final

import aiosqlite

from ..errors import StorageClosedError, StorageNotOpenError, StorageStateError
from ..peers import AnyPeerRow, UsernameRow, get_input_peer, usernames_by_peer
from . import redaction
from ._values import checked
from .base import UNSET, StateRow, Unset
from .fields import FieldStorage
from .inline import InlineConnection
from .schema import (
    MERGE_UPDATE_STATE,
    PYROFORK,
    SCHEMA_VERSION,
    Layout,
    LayoutName,
    detect_version,
    layout_named,
    open_statements,
)
from .sqlite_errors import open_failure, read_failure, write_failure
from .threaded import ThreadedConnection
from .update_states import UpdateStateLike, as_states

__all__ = ["SQLiteStorage"]

log = logging.getLogger(__name__)
redaction.install()

_BOOL_COLUMNS: Final = frozenset({"test_mode", "is_bot"})
_BY_ID: Final = itemgetter(0)
_PEER_BY_ID: Final = "SELECT id, access_hash, type FROM peers WHERE id = ?"
_PEER_BY_PHONE: Final = "SELECT id, access_hash, type FROM peers WHERE phone_number = ? LIMIT 1"

#: A connection ``create()`` and the writes use: aiosqlite's, or an inline one (memory).
Connection = aiosqlite.Connection | InlineConnection
#: One statement of a write transaction: ``(sql, parameters, False)`` runs it once,
#: ``(sql, rows, True)`` once per row.
Step = tuple[str, Sequence[Any], bool]


class SQLiteStorage(FieldStorage):
    """A session in an SQLite database, reached through :mod:`aiosqlite`.

    It owns the schema, its version table, the migrations from Pyrogram 2.x (version 3) and
    Pyrofork (version 4) files and all SQL. :class:`~vault.storage.FileStorage` and
    :class:`~vault.storage.MemoryStorage` are subclasses that only say where the database is.

    Files of Kurigram and Irenogram (version 7) are used in their own layout, never migrated;
    ``layout="kurigram"`` creates new databases in it (default ``"pyrofork"``, version 4). The
    SQL that differs between the two is in :mod:`vault.storage.schema`.

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

    def __init__(self, name: str, *, layout: LayoutName = "pyrofork") -> None:
        super().__init__(name)
        #: The layout a new (empty) database is created in; an existing one keeps its own.
        self.new_layout: Layout = layout_named(layout)
        self._layout: Layout = PYROFORK  # the open database's, set by create()
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
        if isinstance(conn, sqlite3.Connection):
            # Pyrogram's docs show a subclass with sqlite3.connect(), which blocks the loop.
            raise TypeError(
                "self.conn is a sqlite3.Connection; vault's SQLiteStorage runs on aiosqlite: "
                "set it with `self.conn = await aiosqlite.connect(path)`, then "
                "`await self.create()`"
            )
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
                layout, statements = open_statements(version, self.new_layout)
                if version is None:
                    log.debug("creating session schema version %d for %r", layout.version, self)
                elif version != layout.version:
                    log.info(
                        "migrating session %r from schema version %d to %d",
                        self.name,
                        version,
                        layout.version,
                    )
                for statement in statements:
                    await db.execute_fetchall(statement)
            self._layout = layout
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
        tables = ("peers", "usernames", "update_state")
        clear = (
            "UPDATE sessions SET api_id = NULL, test_mode = NULL, auth_key = NULL, "
            "date = 0, user_id = NULL, is_bot = NULL"
        )
        await self._commit(*[(f"DELETE FROM {t}", (), False) for t in tables], (clear, (), False))

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
            if self.conn is not None:
                raise StorageNotOpenError(
                    f"{self!r} has a connection but was not set up: open() must end with "
                    "`await self.create()`"
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

    async def _commit(self, *steps: Step) -> None:
        """Run ``steps`` as one write transaction, committed when this returns.

        vault's own connections take the whole transaction as one call (for FileStorage, one
        hop to the connection's thread instead of one per statement, BEGIN and COMMIT
        included). A plain aiosqlite connection, as a subclass's ``open()`` may set, takes the
        same statements one call each.
        """
        db = self._db()
        try:
            if isinstance(db, InlineConnection) and not self._write_lock.locked():
                # Nothing here awaits, so no other task can come between the statements: an
                # in-memory write with no writer ahead of it skips the cost of the lock.
                self._end_read()
                _apply(steps, db.raw)
                return
            if isinstance(db, ThreadedConnection | InlineConnection):
                async with self._writer():
                    await db.run(functools.partial(_apply, steps))
                return
        except sqlite3.Error as error:
            raise write_failure(error) from None
        async with self._transaction() as conn:
            for sql, params, many in steps:
                await (conn.executemany if many else conn.execute_fetchall)(sql, params)

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
        await self._commit((sql, params, False))

    # --- peer cache --------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        # The save date goes into the SQL as a literal: no new tuple per row, which keeps a
        # 100k-peer update from waking the garbage collector on the event loop.
        now = int(self._now())
        layout = self._layout
        sql = layout.upsert_peer.format(now=now)
        source = iter(peers)

        def chunk() -> list[AnyPeerRow]:
            rows = list(itertools.islice(source, self.WRITE_CHUNK))
            # In id order the rows land on neighbouring pages; the sort is stable, so of two
            # rows for one peer the later still wins.
            rows.sort(key=_BY_ID)
            return rows

        rows = chunk()
        if not rows:
            return
        if len(rows) < self.WRITE_CHUNK:  # the usual update: all in one call
            params, names = layout.peer_params(rows)
            await self._commit((sql, params, True), *self._username_steps(names, now))
            return
        async with self._transaction() as db:
            while rows:
                params, names = layout.peer_params(rows)
                await db.executemany(sql, params)
                for step_sql, step_params, _ in self._username_steps(names, now):
                    await db.executemany(step_sql, step_params)
                rows = chunk()

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        owned = usernames_by_peer(usernames)
        if owned:
            await self._commit(*self._username_steps(owned, self._now()))

    def _username_steps(self, owned: dict[int, list[str]], now: int) -> list[Step]:
        """The steps that make ``owned`` each peer's whole list of usernames (extra ones, in
        Pyrofork's layout)."""
        if not owned:
            return []
        layout = self._layout
        pairs = [(peer_id, name) for peer_id, names in owned.items() for name in names]
        return [
            (layout.delete_usernames, [(peer_id,) for peer_id in owned], True),
            (layout.insert_username.format(now=now), pairs, True),
        ]

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
        layout = self._layout
        rows = (
            cursor.execute(layout.peer_by_username, (username,)).fetchall()
            if cursor is not None
            else await self._fetchall(layout.peer_by_username, (username,))
        )
        row = rows[0] if rows else None
        if row is None and layout.alias_by_username is not None:
            alias = await self._fetchone(layout.alias_by_username, (username,))
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
        cursor = self._reading()  # no await on the reader's path, as in get_peer_by_id
        row = (
            cursor.execute(_PEER_BY_PHONE, (phone_number,)).fetchone()
            if cursor is not None
            else await self._fetchone(_PEER_BY_PHONE, (phone_number,))
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

    async def set_update_state(
        self, update_state: UpdateStateLike | Iterable[UpdateStateLike]
    ) -> None:
        """Kurigram's write, in one statement: fields given as ``None`` keep their values."""
        rows = [(s.id, s.pts, s.qts, s.date, s.seq) for s in as_states(update_state)]
        if rows:
            await self._commit((MERGE_UPDATE_STATE, rows, True))

    # --- session fields ----------------------------------------------------------------------

    async def _field(self, column: str, value: Any) -> Any:
        assert column in self._layout.session_columns  # column names are never user input
        if value is UNSET:
            row = await self._fetchone(f"SELECT {column} FROM sessions")
            result = None if row is None else checked(self.name, column, row[0])
            if column in _BOOL_COLUMNS and result is not None:
                return bool(result)
            return result
        await self._write(f"UPDATE sessions SET {column} = ?", (value,))
        return None

    async def server_address(self, value: str | Unset | None = UNSET) -> str | None:
        """Kept in the Kurigram layout; derived from ``dc_id()`` in Pyrofork's (see
        :meth:`Storage.server_address <vault.storage.Storage.server_address>`)."""
        if "server_address" in self._layout.session_columns:
            return await self._field("server_address", value)  # type: ignore[no-any-return]
        return await super().server_address(value)

    async def port(self, value: int | Unset | None = UNSET) -> int | None:
        """Kept in the Kurigram layout; derived from ``dc_id()`` in Pyrofork's."""
        if "port" in self._layout.session_columns:
            return await self._field("port", value)  # type: ignore[no-any-return]
        return await super().port(value)

    @property
    def layout(self) -> LayoutName:
        """The layout of the open database (``"pyrofork"`` or ``"kurigram"``)."""
        self._db()
        return self._layout.name

    async def version(self) -> int:
        """The schema version of the open database."""
        row = await self._fetchone("SELECT number FROM version")
        return int(row[0])


def _apply(steps: Sequence[Step], conn: sqlite3.Connection) -> None:
    """Run ``steps`` on ``conn`` (autocommit mode) as one transaction, on its own thread."""
    if len(steps) == 1 and not steps[0][2]:
        conn.execute(steps[0][0], steps[0][1])  # a lone statement is a transaction by itself
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params, many in steps:
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
