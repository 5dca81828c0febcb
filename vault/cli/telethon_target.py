"""A Telethon ``.session`` file as a :class:`~vault.cli.target.Target`.

Every command is written once against :class:`~vault.cli.target.Target`; a Telethon file
only differs in where its fields are. A snapshot loads the file's one ``sessions`` row into
an in-memory vault storage (the auth key field as stored: an envelope or a plain key), so
:class:`~vault.EncryptedStorage` does the crypto exactly as for a Pyrogram file and as
:mod:`vault.telethon` does (same envelope, bound to the same session name). A change runs on
that storage and writes the resulting auth key field back into a copy of the file, which
:func:`~vault.cli.rewrite.rewrite` compacts, verifies, scans for the plaintext key and
renames over the file: a crash leaves the old or the new file. Nothing here imports Telethon.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import SchemaError
from ..storage import MemoryStorage
from ..telethon.files import scrub, session_name
from ..telethon.strings import TelethonData, encode_telethon_string, encrypt_telethon_string
from . import atomic
from .commands import PLAIN_WARNING, export_plain_session, warn
from .credentials import Credentials
from .exits import CliError, Exit
from .file_target import FileTarget
from .rewrite import copy_database, rewrite
from .sessionfile import existing_file
from .target import Target
from .vaults import Edit, Outcome, read_auth_key

__all__ = [
    "TelethonRow",
    "TelethonSnapshot",
    "TelethonTarget",
    "export_telethon",
    "is_telethon_file",
    "read_row",
    "target_for",
]

#: The tables of Telethon 1.x's session file.
TELETHON_TABLES = frozenset({"sessions", "entities", "sent_files", "update_state", "version"})
_SESSION_COLUMNS = frozenset({"dc_id", "server_address", "port", "auth_key", "takeout_id"})


def _connect_ro(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    # mode=ro never changes the file; immutable=1 also takes no lock and opens no side files
    # (for a file in WAL mode a reader would create -wal and -shm ones)
    flags = "mode=ro&immutable=1" if immutable else "mode=ro"
    return sqlite3.connect(f"file:{quote(str(path))}?{flags}", uri=True, isolation_level=None)


def is_telethon_file(path: Path) -> bool:
    """Whether ``path`` is an SQLite file in Telethon's session layout (read only; any
    failure to tell says no, and the Pyrogram-family reader reports it)."""
    if not path.is_file():
        return False
    try:
        conn = _connect_ro(path, immutable=True)  # a client may hold it: look, touch nothing
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not tables >= TELETHON_TABLES:
                return False
            columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return columns >= _SESSION_COLUMNS


class TelethonRow:
    """What a Telethon session file holds, as read with :func:`read_row` (no key opened)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT dc_id, server_address, port, auth_key, takeout_id FROM sessions"
        ).fetchone()
        values: tuple[Any, ...] = row if row is not None else (None,) * 5
        self.dc_id: int | None = values[0]
        self.server_address: str | None = values[1]
        self.port: int | None = values[2]
        self.auth_key: bytes | None = values[3]
        self.takeout_id: int | None = values[4]
        if self.auth_key is not None and not isinstance(self.auth_key, bytes):
            raise SchemaError(f"the auth_key column of {path} holds no bytes; check the file")
        version = conn.execute("SELECT version FROM version").fetchone()
        self.version = int(version[0]) if version else None
        self.counts = {
            "peers": _count(conn, "SELECT COUNT(*) FROM entities"),
            "usernames": _count(conn, "SELECT COUNT(*) FROM entities WHERE username IS NOT NULL"),
            "update_states": _count(conn, "SELECT COUNT(*) FROM update_state"),
        }


def _count(conn: sqlite3.Connection, query: str) -> int:
    return int(conn.execute(query).fetchone()[0])


def read_row(path: Path) -> TelethonRow:
    """Read the Telethon session file ``path`` (which is never changed)."""
    existing_file(path)
    try:
        conn = _connect_ro(path)
        try:
            return TelethonRow(path, conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise SchemaError(f"{path} is not a readable Telethon session file: {error}") from None


class TelethonSnapshot(MemoryStorage):
    """An in-memory vault storage holding a Telethon file's session: ``open()`` reads the
    file (never changing it); the fields Telethon lacks come from ``extra``
    (``api_id``, ``user_id``, ``is_bot``, ``test_mode``). :attr:`stored` is the auth key
    field as it was when the storage was closed."""

    def __init__(self, path: Path, name: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(name)
        self.path = path
        self.extra = extra or {}
        self.row: TelethonRow | None = None
        self.stored: bytes | None = None

    async def open(self) -> None:
        self.row = read_row(self.path)
        await super().open()
        await self.dc_id(self.row.dc_id or 0)
        await self.test_mode(bool(self.extra.get("test_mode", False)))
        await self.api_id(self.extra.get("api_id"))
        await self.user_id(self.extra.get("user_id"))
        await self.is_bot(bool(self.extra.get("is_bot", False)))
        await self.auth_key(self.row.auth_key or None)

    async def close(self) -> None:
        if self.conn is not None:
            self.stored = await self.auth_key()
        await super().close()


class TelethonTarget(Target[TelethonSnapshot]):
    """The Telethon session file at ``path``."""

    def __init__(self, path: Path, extra: dict[str, Any] | None = None) -> None:
        self.path = path
        self.name = session_name(path)
        self.label = self.cli_args = str(path)
        self.extra = extra

    async def snapshot(self) -> TelethonSnapshot:
        return TelethonSnapshot(self.path, self.name, self.extra)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        # The flock session-vault's own commands take (Telethon itself takes none): two
        # commands never change the file together.
        return atomic.locked(self.path)

    async def change(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change`; call it inside :meth:`locked`."""
        outcomes: list[Outcome] = []

        async def step(temp: Path) -> None:
            storage = TelethonSnapshot(temp, self.name)
            async with edit(storage) as outcome:
                outcomes.append(outcome)
            _store_auth_key(temp, storage.stored)

        async def verify(temp: Path) -> None:
            outcome = outcomes[0]
            if await read_auth_key(TelethonSnapshot(temp, self.name), **outcome.check) != (
                outcome.key
            ):
                raise CliError(
                    Exit.INTERNAL,
                    f"the new copy of {self.path} did not give back the same auth key; the "
                    "original file was left unchanged (please report this)",
                )

        def forbidden() -> bytes | None:
            return outcomes[0].key if outcomes[0].sealed else None

        await rewrite(self.path, step, verify, forbidden=forbidden)
        return outcomes[0]

    async def create(self, edit: Edit, dc_id: int, address: str, port: int) -> Outcome:
        """Create the file, which must not exist yet, as a Telethon session at data center
        ``dc_id`` (``address``, ``port``) holding what ``edit`` writes into an empty session,
        checked as :meth:`change` checks a result; nothing is left on failure. Needs
        Telethon (its own ``SQLiteSession`` makes the file)."""
        temp = Path(f"{atomic.temp_path(self.path)}.session")
        try:
            new_telethon_file(temp, dc_id, address, port)
            storage = TelethonSnapshot(temp, self.name)
            async with edit(storage) as outcome:
                pass
            _store_auth_key(temp, storage.stored)
            await asyncio.to_thread(scrub, temp)
            check = await read_auth_key(TelethonSnapshot(temp, self.name), **outcome.check)
            if check != outcome.key or (outcome.sealed and atomic.scan_for(temp, outcome.key)):
                raise CliError(
                    Exit.INTERNAL,
                    f"the new file {self.path} did not check out; nothing was written "
                    "(please report this)",
                )
            atomic.link_new(temp, self.path)
        finally:
            atomic.remove_with_side_files(temp)
        return outcome

    async def _place(self, snapshot: TelethonSnapshot) -> dict[str, Any]:
        assert snapshot.row is not None  # an open snapshot has read it
        return {
            "path": str(self.path),
            "session_name": self.name,
            "layout": "telethon",
            "schema_version": snapshot.row.version,
            "written_by": "Telethon",
            "server_address": snapshot.row.server_address,
            "port": snapshot.row.port,
        }

    async def _counts(self, snapshot: TelethonSnapshot) -> dict[str, int]:
        assert snapshot.row is not None
        return dict(snapshot.row.counts)

    def head(self, facts: dict[str, Any]) -> list[str]:
        return [
            f"path:           {facts['path']}",
            f"session name:   {facts['session_name']}",
            f"schema:         Telethon session file (version {facts['schema_version']})",
            f"server:         {facts['server_address']}:{facts['port']}",
        ]


def target_for(path: Path) -> Target[Any]:
    """The target for the session file ``path``: a :class:`TelethonTarget` for a file in
    Telethon's layout, else a :class:`~vault.cli.file_target.FileTarget` (Pyrogram family)."""
    if is_telethon_file(path):
        return TelethonTarget(path)
    return FileTarget(path)


def new_telethon_file(path: Path, dc_id: int, address: str, port: int) -> None:
    """Make a Telethon session file without an auth key at ``path`` (owner-only), with
    Telethon's own ``SQLiteSession``."""
    session_cls = _telethon_sqlite_session()
    path.touch(mode=0o600, exist_ok=False)
    session = session_cls(str(path))
    try:
        session.set_dc(dc_id, address, port)
        session.save()
    finally:
        session.close()


def _telethon_sqlite_session() -> Any:
    try:
        from telethon.sessions import SQLiteSession  # noqa: PLC0415 - Telethon is optional
    except ImportError:
        raise CliError(
            Exit.FAILURE,
            "this needs Telethon, which is not installed; install session-vault[telethon]",
        ) from None
    return SQLiteSession


async def export_telethon(target: TelethonTarget, creds: Credentials, *, plain: bool) -> str:
    """``export`` for a Telethon file: the session as an encrypted Telethon string
    (``vault1-telethon:``, opening with the same key slots), or with ``plain`` Telethon's own
    ``StringSession`` string (plus a warning); nothing is written."""
    view = await target.view()
    if not view.encrypted:
        row = read_row(target.path)
        if not row.auth_key:
            raise CliError(Exit.REFUSED, f"{target} holds no auth key: nothing to export")
        text = encode_telethon_string(
            TelethonData(row.dc_id or 0, row.server_address or "", row.port or 0, row.auth_key)
        )
        return export_plain_session(target, text, creds, plain=plain, seal=encrypt_telethon_string)
    session_cls = _telethon_sqlite_session()
    from ..telethon import EncryptedSession  # noqa: PLC0415 - needs Telethon

    with tempfile.TemporaryDirectory() as directory:
        copy = Path(directory) / target.path.name
        copy_database(target.path, copy)  # the session opens a private copy, never the file
        session = EncryptedSession(session_cls(str(copy)), **creds.unlock_kwargs())
        try:
            if plain:
                warn(PLAIN_WARNING)
                return session.export_plain_session_string()
            return session.export_session_string()
        finally:
            session.close()


def _store_auth_key(path: Path, stored: bytes | None) -> None:
    """Write the auth key field into the Telethon file ``path`` (a private copy); a
    temporary auth key, a secret too, is emptied."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE sessions SET auth_key = ?", (stored,))
        if "tmp_auth_key" in columns:
            conn.execute("UPDATE sessions SET tmp_auth_key = x''")
        conn.execute("COMMIT")
    finally:
        conn.close()
