"""What only the SQLite backends promise: files, permissions, schema checks, locking."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import aiosqlite
import pytest
from custom_sqlite_storage import main as custom_example_main

from vault.errors import (
    InvalidSessionString,
    SchemaError,
    SessionInUseError,
    StorageNotOpenError,
)
from vault.storage import FileStorage, MemoryStorage, SQLiteStorage
from vault.storage.schema import SCHEMA_VERSION, LayoutName

from .tampering import digest


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_file_storage_path_and_owner_only_modes(tmp_path: Path) -> None:
    workdir = tmp_path / "nested" / "sessions"
    s = FileStorage("acc", workdir=workdir)
    assert s.database == workdir / "acc.session"
    await s.open()
    await s.auth_key(os.urandom(256))
    await s.save()
    try:
        assert mode(s.database) == 0o600
        assert mode(workdir) == 0o700
        for side in workdir.iterdir():
            assert mode(side) & 0o077 == 0, side
    finally:
        await s.close()


async def test_default_workdir_is_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = FileStorage("here")
    await s.open()
    await s.close()
    assert (tmp_path / "here.session").is_file()


async def test_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    s = FileStorage("loose", workdir=tmp_path)
    await s.open()
    await s.close()
    s.database.chmod(0o644)
    s2 = FileStorage("loose", workdir=tmp_path)
    await s2.open()
    await s2.close()
    assert mode(s2.database) == 0o600


async def test_pragmas_and_indexes(tmp_path: Path) -> None:
    s = FileStorage("pragmas", workdir=tmp_path)
    await s.open()
    try:
        db = s._db()
        assert next(iter(await db.execute_fetchall("PRAGMA secure_delete")))[0] == 1
        assert next(iter(await db.execute_fetchall("PRAGMA journal_mode")))[0] == "wal"
        assert await s.version() == SCHEMA_VERSION
        plans = {
            column: " ".join(
                str(r[-1])
                for r in await db.execute_fetchall(
                    f"EXPLAIN QUERY PLAN SELECT * FROM peers WHERE {column} = ?", ("x",)
                )
            )
            for column in ("id", "username", "phone_number")
        }
    finally:
        await s.close()
    for column, plan in plans.items():
        assert "USING" in plan and ("INDEX" in plan or "PRIMARY KEY" in plan), (column, plan)


@pytest.mark.parametrize("layout", ["pyrofork", "kurigram"])
async def test_opening_an_up_to_date_file_writes_nothing(
    tmp_path: Path, layout: LayoutName
) -> None:
    # Nothing to commit at open() and nothing for close() to checkpoint.
    first = FileStorage("same", workdir=tmp_path, layout=layout)
    await first.open()
    await first.update_peers([(1, 2, "user", None, None)])
    await first.close()
    again = FileStorage("same", workdir=tmp_path)
    await again.open()
    try:
        assert os.path.getsize(f"{again.database}-wal") == 0
    finally:
        await again.close()


async def test_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "junk.session"
    path.write_bytes(os.urandom(4096))
    before = digest(path)
    with pytest.raises(SchemaError, match="not an SQLite session database"):
        await FileStorage("junk", workdir=tmp_path).open()
    assert digest(path) == before


async def test_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.session"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    before = digest(path)
    with pytest.raises(SchemaError, match="not a Pyrogram-family session"):
        await FileStorage("other", workdir=tmp_path).open()
    assert digest(path) == before


async def test_newer_schema_version_is_named(tmp_path: Path) -> None:
    s = FileStorage("future", workdir=tmp_path)
    await s.open()
    await s.close()
    with sqlite3.connect(s.database) as conn:
        conn.execute("UPDATE version SET number = 99")
    conn.close()
    with pytest.raises(SchemaError, match="version 99"):
        await FileStorage("future", workdir=tmp_path).open()


async def test_a_refused_open_can_be_retried_by_a_new_object(tmp_path: Path) -> None:
    (tmp_path / "retry.session").write_bytes(b"x" * 100)
    with pytest.raises(SchemaError):
        await FileStorage("retry", workdir=tmp_path).open()
    (tmp_path / "retry.session").unlink()
    s = FileStorage("retry", workdir=tmp_path)
    await s.open()  # the failed attempt released its lock
    await s.close()


async def test_a_refused_open_can_be_retried_on_the_same_object(tmp_path: Path) -> None:
    path = tmp_path / "again.session"
    path.write_bytes(b"x" * 100)
    s = FileStorage("again", workdir=tmp_path)
    with pytest.raises(SchemaError):
        await s.open()
    path.unlink()
    await s.open()
    assert await s.dc_id() == 2
    await s.close()


async def test_second_opener_of_one_file_is_refused(tmp_path: Path) -> None:
    first = FileStorage("shared", workdir=tmp_path)
    await first.open()
    try:
        with pytest.raises(SessionInUseError, match="already open"):
            await FileStorage("shared", workdir=tmp_path).open()
    finally:
        await first.close()
    again = FileStorage("shared", workdir=tmp_path)
    await again.open()
    await again.close()


async def test_delete_removes_the_file_and_side_files(tmp_path: Path) -> None:
    s = FileStorage("gone", workdir=tmp_path)
    await s.open()
    await s.update_peers([(1, 1, "user", None, None)])
    await s.save()  # commits the peer cache, written behind until then
    assert any(p.name.startswith("gone.session-") for p in tmp_path.iterdir())
    await s.delete()
    assert list(tmp_path.iterdir()) == []


async def test_memory_storage_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = MemoryStorage(":memory:")
    await s.open()
    await s.update_peers([(i, i, "user", None, None) for i in range(1, 500)])
    await s.save()
    await s.delete()
    await s.close()
    assert list(tmp_path.iterdir()) == []


def test_memory_storage_rejects_a_bad_string_at_once() -> None:
    with pytest.raises(InvalidSessionString):
        MemoryStorage(":memory:", session_string="BQAB-not-a-session")


async def test_bare_sqlite_storage_explains_what_to_do() -> None:
    with pytest.raises(NotImplementedError, match="subclass"):
        await SQLiteStorage("bare").open()


async def test_shipped_custom_storage_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    await custom_example_main()
    out = capsys.readouterr().out
    assert "dc_id: 4" in out and "42" in out and "4242" in out


def test_lookups_return_vault_records_without_a_client_package() -> None:
    """With no Pyrogram-family package importable, lookups return vault's own records."""
    code = (
        "import sys; sys.modules['pyrogram'] = None; sys.modules['hydrogram'] = None\n"
        "from vault.peers import get_input_peer\n"
        "print(repr(get_input_peer(-1001234567890, 7, 'supergroup')))\n"
        "print(repr(get_input_peer(-5, 0, 'group')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.splitlines() == [
        "InputPeerChannel(channel_id=1234567890, access_hash=7)",
        "InputPeerChat(chat_id=5)",
    ]


async def test_a_subclass_written_as_pyrograms_docs_show_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pyrogram's docs show ``sqlite3.connect()`` and a ``create()`` that is not awaited;
    that subclass works as it is (and with ``create()`` awaited too)."""
    monkeypatch.chdir(tmp_path)

    class CustomStorage(SQLiteStorage):
        async def open(self) -> None:
            self.conn = sqlite3.connect("custom_path.db", check_same_thread=False)
            self.create()

    class AwaitingStorage(SQLiteStorage):
        async def open(self) -> None:
            self.conn = sqlite3.connect("custom_path.db", check_same_thread=False)
            await self.create()

    async with CustomStorage("custom") as s:
        await s.dc_id(4)
        await s.update_peers([(42, 4242, "user", "alice", None)])
        assert (await s.get_peer_by_username("alice")).access_hash == 4242
    with contextlib.closing(sqlite3.connect(tmp_path / "custom_path.db")) as db:
        assert db.execute("SELECT dc_id FROM sessions").fetchall() == [(4,)]  # committed
    async with AwaitingStorage("custom") as again:
        assert await again.dc_id() == 4
        assert (await again.get_peer_by_id(42)).access_hash == 4242


async def test_an_aiosqlite_subclass_keeps_working(tmp_path: Path) -> None:
    """The form vault documented before: an awaited ``aiosqlite.connect()``, a file or an
    in-memory database (whose content is carried over)."""

    class FileBacked(SQLiteStorage):
        async def open(self) -> None:
            self.conn = await aiosqlite.connect(tmp_path / "c.db")
            await self.create()

    class Copied(SQLiteStorage):
        async def open(self) -> None:
            memory = await aiosqlite.connect(":memory:")
            await memory.execute("CREATE TABLE notes (text TEXT)")
            await memory.commit()
            self.conn = memory
            await self.create()

    async with FileBacked("c") as s:
        await s.user_id(7)
    async with FileBacked("c") as s:
        assert await s.user_id() == 7
    copied = Copied("m")
    with pytest.raises(SchemaError):  # the copy is checked like any database
        await copied.open()
    assert copied.conn is None


async def test_a_subclass_that_does_not_call_create_is_told_to(tmp_path: Path) -> None:
    class NoCreateStorage(SQLiteStorage):
        async def open(self) -> None:
            self.conn = await aiosqlite.connect(tmp_path / "b.db")

    s = NoCreateStorage("b")
    await s.open()
    with pytest.raises(StorageNotOpenError, match=r"self\.create\(\)"):
        await s.dc_id()
    assert s.conn is not None
    await s.conn.close()
