"""SQLiteStorage: the schema, migrations and every SQL statement, on aiosqlite."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any, Final

import aiosqlite

from ..errors import StorageNotOpenError
from ..peers import AnyPeerRow, UsernameRow, get_input_peer, usernames_by_peer
from . import redaction
from ._database import Database
from ._values import checked
from .fields import FieldStorage
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
from .sqlite_errors import UNBINDABLE, open_failure, read_failure, write_failure
from .update_states import UpdateStateLike, as_states
from .values import UNSET, StateRow, Unset

__all__ = ["SQLiteStorage"]

log = logging.getLogger(__name__)
redaction.install()

_BOOL_COLUMNS: Final = frozenset({"test_mode", "is_bot"})
_BY_ID: Final = itemgetter(0)
#: Seconds of written-behind calls in a row after which other tasks get a turn.
_YIELD_AFTER: Final = 0.001
_PEER_BY_ID: Final = "SELECT id, access_hash, type FROM peers WHERE id = ?"
_PEER_BY_PHONE: Final = "SELECT id, access_hash, type FROM peers WHERE phone_number = ? LIMIT 1"

#: One statement of a write transaction: ``(sql, parameters, False)`` runs it once,
#: ``(sql, rows, True)`` once per row.
Step = tuple[str, Sequence[Any], bool]


class SQLiteStorage(FieldStorage):
    """A session in an SQLite database, on :mod:`sqlite3`.

    It owns the schema, its version table, the migrations from Pyrogram 2.x (version 3) and
    Pyrofork (version 4) files and all SQL. :class:`~vault.storage.FileStorage` and
    :class:`~vault.storage.MemoryStorage` are subclasses that only say where the database is.

    Files of Kurigram and Irenogram (version 7) are used in their own layout, never migrated;
    ``layout="kurigram"`` creates new databases in it (default ``"pyrofork"``, version 4). The
    SQL that differs between the two is in :mod:`vault.storage.schema`.

    To use another database or connection setting, subclass it as Pyrogram's docs show:
    ``open()`` sets ``self.conn`` to a :class:`sqlite3.Connection` and calls
    ``self.create()`` (awaiting it is fine too), which creates the schema in an empty
    database or migrates an existing one::

        class CustomStorage(SQLiteStorage):
            async def open(self) -> None:
                self.conn = sqlite3.connect("custom_path.db", check_same_thread=False)
                self.create()

    Such a connection is used as it is, on the calling thread, in autocommit mode. An
    :class:`aiosqlite.Connection` (``self.conn = await aiosqlite.connect(path)``, then
    ``await self.create()``) works too: ``create()`` reopens its database with vault's own
    connections (a file by its path; an in-memory database is copied) and closes it, so
    settings made on it (``timeout``, pragmas) do not carry over: make them on a
    ``sqlite3.Connection`` instead.

    Every write of the auth key, the other session fields and the update state is committed
    when its call returns, so it survives the process dying. Small peer-cache writes
    (``update_peers`` of fewer than :attr:`WRITE_CHUNK` rows, ``update_usernames``) are
    written behind: they wait in memory and are committed together with the next write of
    any other kind, by ``save()`` and ``close()``, before the next read, or at the latest
    :attr:`FLUSH_DELAY` seconds of event-loop time after the first of them, so a crash loses
    at most that window of peer-cache writes (the cache refills from Telegram's updates).
    Reads run on the calling thread, see every write whose call has returned and no
    uncommitted row; big writes run in chunks, so the event loop is never held for long.
    """

    #: Peer rows written per statement batch; between batches other tasks run. A smaller
    #: update is written behind (see the class docstring).
    WRITE_CHUNK: int = 2000
    #: Seconds a written-behind peer-cache write waits at most before it is committed.
    FLUSH_DELAY: float = 0.05

    VERSION: Final = SCHEMA_VERSION

    def __init__(self, name: str, *, layout: LayoutName = "pyrofork") -> None:
        super().__init__(name)
        #: The layout a new (empty) database is created in; an existing one keeps its own.
        self.new_layout: Layout = layout_named(layout)
        self._layout: Layout = PYROFORK  # the open database's, set by create()
        #: What ``open()`` connected: a subclass's :class:`sqlite3.Connection` (or
        #: :class:`aiosqlite.Connection`, replaced by ``create()``), or vault's own
        #: :class:`~vault.storage._database.Database`. ``Any``: subclasses assign it freely.
        self.conn: Any = None
        self._database: Database | None = None  # set up by create()
        self._reader: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None  # the reader's, reused: saves a cursor a read
        self._concurrent_reads = False
        self._writing = False
        #: Whether the write running carries written-behind steps: reads wait for it then.
        self._carrying = False
        self._write_lock = asyncio.Lock()
        #: Written-behind peer-cache steps, committed before or with the next other write.
        self._pending: list[Step] = []
        self._pending_rows = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._yielded_at = 0.0  # event-loop time a write behind last let other tasks run

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Subclasses set ``self.conn`` and call :meth:`create`; see the class docstring."""
        raise NotImplementedError(
            "SQLiteStorage needs a connection: use FileStorage or MemoryStorage, or subclass it "
            "with an open() that sets self.conn and calls self.create()"
        )

    def create(self) -> Awaitable[None]:
        """Prepare ``self.conn``: create the schema in an empty database, or migrate an older
        Pyrogram-family one in place, inside one transaction.

        A :class:`sqlite3.Connection` is prepared when this is called (Pyrogram's docs do
        not await it); the awaitable returned is then already done. Raises
        :class:`~vault.errors.SchemaError` if the database is not a session database; the
        connection is then closed and the storage stays unopened.
        """
        conn = self.conn
        if conn is None:
            raise StorageNotOpenError("create() needs self.conn; set it in open() first")
        if not isinstance(conn, sqlite3.Connection):
            return self._create(conn)
        conn.isolation_level = None  # autocommit: vault begins and ends its transactions
        try:
            layout = _create_schema(conn, self.new_layout, self.name)
        except BaseException:
            self.conn = None
            conn.close()
            raise
        database = Database(conn, threaded=False)
        database.add_reader(conn, concurrent=False)
        self._setup(database, layout)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def _create(self, conn: aiosqlite.Connection | Database) -> None:
        try:
            database = conn if isinstance(conn, Database) else await _adopt(conn)
            self.conn = database
            layout = await database.run(
                functools.partial(_create_schema, new_layout=self.new_layout, name=self.name)
            )
        except BaseException:
            await self._abandon()
            raise
        self._setup(database, layout)

    def _setup(self, database: Database, layout: Layout) -> None:
        self._database, self._layout = database, layout
        if database.reader is not None:
            self._reader, self._cursor = database.reader, database.reader.cursor()
            self._concurrent_reads = database.concurrent_reads

    def _use_reader(self, reader: sqlite3.Connection, *, concurrent: bool) -> None:
        """Read through ``reader`` from now on, on the calling thread (see
        :class:`~vault.storage._database.Database`).

        Between writes the reader keeps one read transaction open, which saves starting one
        per lookup; it is ended before every write. While a write transaction is open, reads
        start none: they run at once if ``concurrent`` (a WAL file), else they wait for it to
        end. Each read sees every write whose call has returned, and no other.
        """
        assert self._database is not None
        self._database.add_reader(reader, concurrent=concurrent)
        self._reader, self._cursor = reader, reader.cursor()
        self._concurrent_reads = concurrent

    def _end_read(self) -> None:
        reader = self._reader
        if reader is not None and reader.in_transaction:
            reader.execute("COMMIT")

    async def _abandon(self) -> None:
        """Close what a failed ``open()`` connected; the object stays unopened, so
        ``open()`` may be tried again."""
        conn, self.conn = self.conn, None
        database, self._database = self._database, None
        self._reader = self._cursor = None
        self._take_pending()
        if database is not None:
            await database.close()
        elif isinstance(conn, Database | aiosqlite.Connection):
            await conn.close()
        elif conn is not None:
            conn.close()

    async def save(self) -> None:
        """Record the save date, committing the written-behind peer-cache writes with it."""
        await self.date(self._now())

    async def close(self) -> None:
        """Commit the written-behind peer-cache writes and close the database. Closing
        twice, or before ``open()``, does nothing."""
        try:
            if self._flush_task is not None:
                await self._flush_task
            if self._pending and self._database is not None:
                await self._commit()
        finally:
            async with self._write_lock:
                await self._abandon()

    async def delete(self) -> None:
        """Empty every table of the session (subclasses with a file remove the file instead).

        Clients call this after ``close()`` on log-out, so a closed storage is opened again
        through its own ``open()`` just for the wipe.
        """
        if self._database is None:
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
        """Drop the copies of overwritten pages (an old auth key) that the journal keeps:
        checkpoint and truncate the write-ahead log, or remove a persistent rollback journal
        (``journal_mode`` PERSIST or TRUNCATE). ``secure_delete`` already zeroes freed
        content in the database itself."""
        async with self._writer() as db:
            try:
                await db.run(_purge_journal)
            except (sqlite3.Error, *UNBINDABLE) as error:
                raise write_failure(error) from None

    # --- plumbing ----------------------------------------------------------------------------

    def _db(self) -> Database:
        database = self._database
        if database is None:
            self._check_open()
            raise StorageNotOpenError(
                f"{self!r} has a connection but was not set up: open() must end with "
                "`self.create()`"
            )
        return database

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[Database]:
        """Exclusive use of the writer; the reader holds no snapshot meanwhile."""
        async with self._write_lock:
            db = self._db()
            self._writing = True
            try:
                self._end_read()
                yield db
            finally:
                self._writing = self._carrying = False

    def _take_pending(self) -> list[Step]:
        """The written-behind steps, handed over to the write that commits them."""
        steps, self._pending, self._pending_rows = self._pending, [], 0
        if steps and self._writing:
            self._carrying = True  # until the write ends (see _reading)
        timer, self._flush_timer = self._flush_timer, None
        if timer is not None:
            timer.cancel()
        return steps

    async def _write_behind(self, steps: list[Step], rows: int) -> None:
        """Keep ``steps`` for the next commit and start the timer that bounds their wait;
        commit them at once if they hold a value SQLite might refuse (so its error is raised
        here, as for any write) or :attr:`WRITE_CHUNK` rows are waiting."""
        if not all(_plain_rows(sql, params) for sql, params, _ in steps):
            await self._commit(*steps)
            return
        pending = self._pending
        for step in steps:
            last = pending[-1] if pending else None
            if step[2] and last is not None and last[0] == step[0] and isinstance(last[1], list):
                # The statement waiting last again: its rows join that one's (committing a
                # step costs a statement-cache lookup and a call, far more than a row does).
                # The parameter lists are the storage's own, made for this write.
                last[1].extend(step[1])
            else:
                pending.append(step)
        self._pending_rows += rows
        loop = asyncio.get_running_loop()
        if self._flush_timer is None:
            self._flush_timer = loop.call_later(self.FLUSH_DELAY, self._on_flush_timer)
        if self._pending_rows >= self.WRITE_CHUNK:
            await self._commit()
        if loop.time() - self._yielded_at >= _YIELD_AFTER:
            # A write behind never waits (nor does an inline commit), so a run of them would
            # hold the event loop, and the timer, until it ends: now and then other tasks run.
            await asyncio.sleep(0)
            self._yielded_at = loop.time()

    def _on_flush_timer(self) -> None:
        self._flush_timer = None
        if self._pending and self._flush_task is None:
            self._flush_task = asyncio.ensure_future(self._flush_on_timer())

    async def _flush_on_timer(self) -> None:
        try:
            if self._pending and self._database is not None:
                await self._commit()
        except Exception:
            # Nobody awaits this task: the peer-cache rows are dropped (they refill from
            # Telegram's updates); the next write reports a lasting failure itself.
            log.warning("could not commit the peer cache of %r", self.name, exc_info=True)
        finally:
            self._flush_task = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Database]:
        """One write transaction; writers are serialised so coroutines never interleave them.
        It starts with the written-behind steps. SQLite's errors become vault's."""
        async with self._writer() as db:
            try:
                await db.run(_begin)
                if self._pending:
                    await db.run(functools.partial(_run_steps, self._take_pending()))
                try:
                    yield db
                    await db.run(_end)
                except BaseException:
                    await db.run(_rollback)
                    raise
            except (sqlite3.Error, *UNBINDABLE) as error:
                raise write_failure(error) from None

    async def _commit(self, *steps: Step) -> None:
        """Run the written-behind steps and ``steps`` as one write transaction, committed
        when this returns: one call to the writer (for FileStorage, one hop to its thread,
        BEGIN and COMMIT included)."""
        db = self._db()
        try:
            if db.inline and not self._write_lock.locked():
                # Nothing here awaits, so no other task can come between the statements: an
                # inline write with no writer ahead of it skips the cost of the lock.
                self._end_read()
                _apply_after(self._take_pending(), steps, db.writer, self.name)
                return
            async with self._writer():
                pending = self._take_pending()
                await db.run(functools.partial(_apply_after, pending, steps, name=self.name))
        except (sqlite3.Error, *UNBINDABLE) as error:
            raise write_failure(error) from None

    def _reading(self) -> sqlite3.Cursor | None:
        """The reader's cursor, ready for a query on the calling thread; ``None`` when the
        read must wait (a write transaction is open and the reader would see it, or it
        commits written-behind writes, whose calls have returned; or such writes must be
        committed first) or the storage is not open. Fetch
        every row a query yields (all of vault's yield at most one, or use ``fetchall``), so
        that no statement is left running to hold a read transaction past ``_end_read``."""
        reader = self._reader
        if reader is None or self._pending:
            return None
        if self._writing:
            return self._cursor if self._concurrent_reads and not self._carrying else None
        if not reader.in_transaction:
            reader.execute("BEGIN")
        return self._cursor

    async def _wait_reading(self) -> sqlite3.Cursor:
        """The reader's cursor once the read may run (see :meth:`_reading`)."""
        self._db()  # raises if the storage is not open
        while True:
            if self._pending:
                await self._commit()  # read your own written-behind writes
            async with self._write_lock:
                if self._pending:
                    continue  # more were written behind meanwhile: commit them too
                cursor = self._reading()  # no write is running: no await until the read is done
            break
        if cursor is None:
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return cursor

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            cursor = self._reading() or await self._wait_reading()
            return cursor.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as error:
            raise read_failure(error) from None

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            cursor = self._reading() or await self._wait_reading()
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

        self._db()  # raises if the storage is not open
        rows = chunk()
        if not rows:
            return
        if len(rows) < self.WRITE_CHUNK:  # the usual update: written behind
            params, names = layout.peer_params(rows)
            steps = [(sql, params, True), *self._username_steps(names, now)]
            await self._write_behind(steps, len(rows))
            return
        async with self._transaction() as db:
            while rows:
                params, names = layout.peer_params(rows)
                steps = [(sql, params, True), *self._username_steps(names, now)]
                await db.run(functools.partial(_run_steps, steps))
                if db.inline:
                    await asyncio.sleep(0)  # other tasks run between chunks
                rows = chunk()

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        self._db()  # raises if the storage is not open
        owned = usernames_by_peer(usernames)
        if owned:
            await self._write_behind(self._username_steps(owned, self._now()), len(owned))

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


def _run_steps(steps: Sequence[Step], conn: sqlite3.Connection) -> None:
    for sql, params, many in steps:
        if many:
            conn.executemany(sql, params)
        else:
            conn.execute(sql, params)


def _apply(steps: Sequence[Step], conn: sqlite3.Connection) -> None:
    """Run ``steps`` on ``conn`` (autocommit mode) as one transaction."""
    if len(steps) == 1 and not steps[0][2]:
        conn.execute(steps[0][0], steps[0][1])  # a lone statement is a transaction by itself
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        _run_steps(steps, conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise


_INT64: Final = range(-(2**63), 2**63)
_PLAIN_TYPES: Final = (str, float, bytes, type(None))


def _plain_rows(sql: str, rows: Sequence[Any]) -> bool:
    """Whether every row of ``rows`` is one SQLite takes for ``sql`` as it is: as many
    values as placeholders, a 64-bit integer first (the peer id), then integers, text, bytes
    or NULL, and no NULL peer type (a peer row's third value) or username (a username
    row's second)."""
    width = sql.count("?")
    for row in rows:
        if len(row) != width or type(row[0]) is not int or row[min(2, width - 1)] is None:
            return False
        for value in row:
            if type(value) is int:
                if value not in _INT64:
                    return False
            elif not isinstance(value, _PLAIN_TYPES):
                return False
    return True


def _apply_after(
    pending: Sequence[Step], steps: Sequence[Step], conn: sqlite3.Connection, name: str
) -> None:
    """Run the written-behind ``pending`` steps and ``steps`` as one transaction. If that
    fails, each runs alone: peer-cache rows that cannot be written are dropped (and logged)
    rather than keep the auth key or update state from being committed, and a write that
    fails itself raises without taking the peer-cache rows with it."""
    if pending:
        try:
            _apply([*pending, *steps], conn)
            return
        except Exception:  # a value SQLite refuses (an int past 64 bits is an OverflowError)
            try:  # the fault may be in ``steps``: the peer-cache writes are kept if they can be
                _apply(pending, conn)
            except Exception:
                log.warning(
                    "dropped peer-cache writes of %r that failed to commit", name, exc_info=True
                )
    if steps:
        _apply(steps, conn)


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _end(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


def _rollback(conn: sqlite3.Connection) -> None:
    conn.rollback()


def _create_schema(conn: sqlite3.Connection, new_layout: Layout, name: str) -> Layout:
    """Create the schema in an empty database or migrate an older one, in one transaction;
    return the database's layout."""
    version: int | None = None
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            version_rows = (
                [tuple(r) for r in conn.execute("SELECT number FROM version")]
                if "version" in tables
                else []
            )
            version = detect_version(tables, version_rows)
            layout, statements = open_statements(version, new_layout)
            if version is None:
                log.debug("creating session schema version %d for %r", layout.version, name)
            elif version != layout.version:
                log.info(
                    "migrating session %r from schema version %d to %d",
                    name,
                    version,
                    layout.version,
                )
            for statement in statements:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
    except (sqlite3.Error, UnicodeDecodeError) as error:
        # UnicodeDecodeError: SQLite's message about a damaged schema quotes its bytes.
        raise open_failure(error, version) from None
    return layout


def _purge_journal(conn: sqlite3.Connection) -> None:
    """Remove the old page copies the journal keeps (see ``purge_stale_copies``)."""
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode == "wal":
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    elif mode in ("persist", "truncate"):
        # Leaving these modes for DELETE removes the journal file; then the mode is restored.
        conn.execute("PRAGMA journal_mode = DELETE").fetchall()
        conn.execute(f"PRAGMA journal_mode = {mode.upper()}").fetchall()


async def _adopt(conn: aiosqlite.Connection) -> Database:
    """vault's own connections to the database of a subclass's aiosqlite connection, which is
    closed: a file is reopened by its path, an in-memory database is copied (aiosqlite's
    public ``backup()``)."""
    rows = await conn.execute_fetchall("PRAGMA database_list")
    path = next((str(row[2]) for row in rows if row[1] == "main"), "")
    if path:
        await conn.close()
        database = Database.connect(path, threaded=True)
        mode = str(database.writer.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        reader = sqlite3.connect(path, check_same_thread=False)
        database.add_reader(reader, concurrent=mode == "wal")
        return database
    # A plain in-memory database, read through its writer: a copy of a WAL file keeps WAL in
    # its header, which SQLite's memdb VFS cannot open.
    database = Database.connect(":memory:", threaded=False)
    try:
        await conn.backup(database.writer)
    except BaseException:
        await database.close()
        raise
    await conn.close()
    database.add_reader(database.writer, concurrent=False)
    return database
