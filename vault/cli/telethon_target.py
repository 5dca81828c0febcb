"""A Telethon ``.session`` file as a :class:`~vault.cli.target.Target`.

Every command is written once against :class:`~vault.cli.target.Target`; a Telethon file
only differs in where its fields are. A snapshot loads the auth key field of the file's one
``sessions`` row (an envelope or a plain key) into an in-memory vault storage, so
:class:`~vault.EncryptedStorage` does the crypto exactly as for a Pyrogram file, and the
envelopes are the ones :mod:`vault.telethon` makes and opens: bound to the same session name,
and to no identity fields (a Telethon file keeps no user id or test flag, and
:mod:`vault.telethon` binds none).

``encrypt`` writes the sealed key over the plaintext one in the file itself, and seals the
entity cache in the same transaction (:meth:`TelethonTarget.change_in_place`); ``seal-peers``
runs :func:`~vault.telethon.seal_session_entities` on the file; the other changes write the
resulting auth key field (which keeps the index key) into a copy of the file, which
:func:`~vault.cli.rewrite.rewrite` compacts, verifies, scans for the plaintext key and renames
over the file. A crash leaves the old or the new session.
Nothing here imports Telethon, but for making a new file (:meth:`TelethonTarget.create`) and
exporting an encrypted one (:func:`export_telethon`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import RebindNeededError, SchemaError
from ..storage import MemoryStorage
from ..storage.values import UNSET, Unset
from ..telethon.files import (
    EXTENSION,
    clear_entity_table,
    scrub,
    seal_entity_rows,
    seal_session_entities,
    session_name,
)
from ..telethon.strings import TelethonData, encode_telethon_string, encrypt_telethon_string
from . import atomic
from .commands import PLAIN_WARNING, export_plain_session, warn
from .credentials import Credentials
from .exits import CliError, Exit
from .file_target import FileTarget, LockedFile
from .rewrite import copy_database, overwrite_auth_key, rewrite
from .sessionfile import existing_file
from .target import SessionView, Target
from .vaults import Edit, Outcome, read_auth_key, rebind_needed

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


def is_telethon_file(path: Path) -> bool:
    """Whether ``path`` is an SQLite file in Telethon's session layout (read only; any
    failure to tell says no, and the Pyrogram-family reader reports it)."""
    if not path.is_file():
        return False
    try:
        # immutable=1: no lock, no side files (a reader of a file in WAL mode would make them)
        # and nothing held once closed, so a client holding the file is not disturbed and the
        # command's own check for other holders never sees this read.
        uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
        with contextlib.closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not tables >= TELETHON_TABLES:
                return False
            columns = {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}
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
        self.auth_key: bytes | None = values[3] or None
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
    """Read the Telethon session file ``path``; its content is never changed (closing the
    connection may fold a write-ahead log a killed run left into the file)."""
    existing_file(path)
    try:
        uri = f"file:{quote(str(path))}?mode=rw"  # never creates a file
        with contextlib.closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as conn:
            return TelethonRow(path, conn)
    except sqlite3.OperationalError as error:
        if "locked" in str(error):
            raise
        raise SchemaError(f"{path} is not a readable Telethon session file: {error}") from None
    except sqlite3.DatabaseError as error:
        raise SchemaError(f"{path} is not a readable Telethon session file: {error}") from None


class TelethonSnapshot(MemoryStorage):
    """An in-memory vault storage holding the auth key field of a Telethon file (read by
    ``open()``, which never changes the file), or ``auth_key`` in its place (a new file's).
    :attr:`stored` is the auth key field as it was when the storage was closed.

    The identity fields (``dc_id``, ``test_mode``, ``user_id``) read ``None``: an envelope
    in a Telethon file binds none (see the module docstring); the file's data center is in
    :attr:`row`."""

    def __init__(self, path: Path, name: str, *, auth_key: bytes | Unset | None = UNSET) -> None:
        super().__init__(name)
        self.path = path
        self.row: TelethonRow | None = None
        self.stored: bytes | None = None
        self._start_key = auth_key
        # The field is classified by the command (or unsealed by the vault over this storage).
        self.expects_envelopes = True

    async def open(self) -> None:
        self.row = await asyncio.to_thread(read_row, self.path)
        await super().open()
        initial = self.row.auth_key if isinstance(self._start_key, Unset) else self._start_key
        await super().auth_key(initial)

    async def close(self) -> None:
        if self.conn is not None:
            self.stored = await self.auth_key()
        await super().close()

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        self._no_identity("dc_id", value)
        return None

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        self._no_identity("test_mode", value)
        return None

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        self._no_identity("user_id", value)
        return None

    def _no_identity(self, name: str, value: object) -> None:
        if value is not UNSET and value is not None:
            raise ValueError(f"a Telethon session file keeps no {name} for the auth key to bind")


class TelethonTarget(LockedFile[TelethonSnapshot]):
    """The Telethon session file at ``path``. :meth:`locked` is a Pyrogram-family file's: a
    running Telethon client takes no lock, but has the file open, which is refused."""

    vault_code = "vault.telethon.EncryptedSession"
    cached_values = "usernames, phone numbers and names"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.name = session_name(path)
        self.storage_code = f"SQLiteSession({str(path)!r})"

    async def snapshot(self) -> TelethonSnapshot:
        return TelethonSnapshot(self.path, self.name)

    async def change(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change`; call it inside :meth:`locked`."""
        outcomes: list[Outcome] = []

        async def step(temp: Path) -> None:
            storage = TelethonSnapshot(temp, self.name)
            async with edit(storage) as outcome:
                outcomes.append(outcome)
                # Decrypted (stored in the clear) from a sealed cache: its tokens are emptied.
                clear = not outcome.sealed and outcome.peer_index is not None
            await asyncio.to_thread(_store_auth_key, temp, storage.stored, clear_entities=clear)

        async def verify(temp: Path) -> None:
            await self._check(
                temp,
                outcomes[0],
                f"the new copy of {self.path} did not check out; the "
                "original file was left unchanged",
            )

        def forbidden() -> bytes | None:
            return outcomes[0].key if outcomes[0].sealed else None

        others = self._other_links()
        await rewrite(self.path, step, verify, forbidden=forbidden)
        self._replaced_links(others)
        return outcomes[0]

    async def change_in_place(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change_in_place`; call it inside :meth:`locked`. The edit runs on
        a copy in memory; only its result is written into the file, in one transaction by
        :func:`~vault.cli.rewrite.overwrite_auth_key` (as for a Pyrogram file) with the entity
        cache sealed under the outcome's peer index (by
        :func:`~vault.telethon.files.seal_entity_rows`, as ``encrypt_session_file`` seals
        it), then checked."""
        others = self._other_links()
        copy = TelethonSnapshot(self.path, self.name)
        async with edit(copy) as outcome:
            field = await copy.auth_key()
            await asyncio.to_thread(_prepare_in_place, self.path)
            # Inside the edit: the peer index is wiped when its vault closes.
            await overwrite_auth_key(self.path, field, outcome.peer_index, seal_entity_rows)
        await asyncio.to_thread(_journal_mode, self.path, "DELETE")  # Telethon's own, again
        await self._check(
            self.path,
            outcome,
            f"{self.path} did not check out after the change; restore it from a backup",
        )
        self._shared_links(others)
        return outcome

    async def seal_peers(self, unlock: dict[str, Any], *, rebind: bool) -> None:
        """See :meth:`Target.seal_peers`: in the file itself, by
        :func:`~vault.telethon.seal_session_entities` (the key re-sealed with the new index
        key and the entity cache sealed in one transaction, then the file rebuilt)."""
        if self.path.suffix != EXTENSION:
            raise CliError(
                Exit.REFUSED,
                f"{self.path} does not end in {EXTENSION}, so Telethon cannot open it by name; "
                f"rename it to end in {EXTENSION} (then use --rebind)",
            )
        others = self._other_links()
        seal = functools.partial(seal_session_entities, self.path, rebind=rebind, **unlock)
        try:
            await asyncio.to_thread(seal)
        except RebindNeededError:
            raise rebind_needed(self.name) from None
        self._shared_links(others, "the sealed entity cache")

    async def _check(self, path: Path, outcome: Outcome, problem: str) -> None:
        """That ``path`` opens with the outcome's credentials to its auth key and, if that is
        now sealed, holds the plaintext key nowhere (file or side files); else ``problem``."""
        stored = await read_auth_key(TelethonSnapshot(path, self.name), **outcome.check)
        leaked = outcome.sealed and atomic.scan_for(path, outcome.key)
        if (stored or b"") != outcome.key or leaked:
            raise CliError(Exit.INTERNAL, f"{problem} (please report this)")

    async def create(self, edit: Edit, dc: tuple[int, str, int], auth_key: bytes) -> Outcome:
        """Create the file, which must not exist yet, as a Telethon session at the data
        center ``dc`` (id, address, port) holding the auth key field ``auth_key`` as ``edit``
        leaves it, checked as :meth:`change` checks a result; nothing is left on
        failure. Needs Telethon (its own ``SQLiteSession`` makes the file)."""
        temp = Path(f"{atomic.temp_path(self.path)}.session")
        try:
            await asyncio.to_thread(_new_telethon_file, temp, dc)
            storage = TelethonSnapshot(temp, self.name, auth_key=auth_key)
            async with edit(storage) as outcome:
                pass
            await asyncio.to_thread(_store_auth_key, temp, storage.stored)
            await asyncio.to_thread(scrub, temp)
            await self._check(
                temp, outcome, f"the new file {self.path} did not check out; nothing was written"
            )
            atomic.link_new(temp, self.path)
        finally:
            atomic.remove_with_side_files(temp)
        return outcome

    async def view(self) -> SessionView:
        view = await super().view()
        # The vault sees no identity fields (see TelethonSnapshot); info shows the file's dc.
        return dataclasses.replace(view, fields={**view.fields, "dc_id": view.place["dc_id"]})

    async def _place(self, snapshot: TelethonSnapshot) -> dict[str, Any]:
        assert snapshot.row is not None  # an open snapshot has read it
        return {
            "path": str(self.path),
            "session_name": self.name,
            "layout": "telethon",
            "schema_version": snapshot.row.version,
            "written_by": "Telethon",
            "dc_id": snapshot.row.dc_id,
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


def _new_telethon_file(path: Path, dc: tuple[int, str, int]) -> None:
    """Make a Telethon session file without an auth key at ``path`` (owner-only), with
    Telethon's own ``SQLiteSession``, at the data center ``dc`` (id, address, port)."""
    session_cls = _telethon_sqlite_session()
    path.touch(mode=0o600, exist_ok=False)
    session = session_cls(str(path))
    try:
        session.set_dc(*dc)
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


async def export_telethon(
    target: TelethonTarget, creds: Credentials, *, plain: bool, rebind: bool = False
) -> str:
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
        session = EncryptedSession(session_cls(str(copy)), rebind=rebind, **creds.unlock_kwargs())
        try:
            if plain:
                warn(PLAIN_WARNING)
                return session.export_plain_session_string()
            return session.export_session_string()
        finally:
            session.close()


def _store_auth_key(path: Path, stored: bytes | None, *, clear_entities: bool = False) -> None:
    """Write the auth key field into the Telethon file ``path`` (a private copy); a
    temporary auth key, a secret too, is emptied. With ``clear_entities``, the tokens of a
    sealed entity cache too, as ``decrypt_session_file`` empties them (they find nothing
    without the index key; ids and access hashes stay)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        _write_key(conn, stored)
        if clear_entities:
            clear_entity_table(conn)
        conn.execute("COMMIT")


def _write_key(conn: sqlite3.Connection, stored: bytes | None) -> None:
    conn.execute("UPDATE sessions SET auth_key = ?", (stored,))
    if "tmp_auth_key" in _columns(conn):
        conn.execute("UPDATE sessions SET tmp_auth_key = x''")


def _columns(conn: sqlite3.Connection) -> set[str]:
    """The columns of the ``sessions`` table (``tmp_auth_key``: Telethon 1.40 and later)."""
    return {r[1] for r in conn.execute("PRAGMA table_info(sessions)")}


def _journal_mode(path: Path, mode: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=1.0)) as conn:
        conn.execute(f"PRAGMA journal_mode = {mode}")


def _prepare_in_place(path: Path) -> None:
    """Ready the Telethon file ``path`` for :func:`~vault.cli.rewrite.overwrite_auth_key`:
    empty the temporary auth key and rebuild the file through a write-ahead log, so no stale
    copy of the plaintext key is left in free pages even if a crash comes right after the
    sealed key is committed (a later ``encrypt`` skips an encrypted file)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=1.0)) as conn:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        if "tmp_auth_key" in _columns(conn):
            conn.execute("UPDATE sessions SET tmp_auth_key = x''")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
