"""Write transactions as one call to the connection, the peer cache written behind, and
EncryptedStorage's pass-through."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import InvalidValueError
from vault.storage import FileStorage, MemoryStorage, SQLiteStorage
from vault.storage.schema import LayoutName


@pytest.fixture
async def file_storage(tmp_path: Path) -> AsyncIterator[FileStorage]:
    s = FileStorage("hops", workdir=tmp_path)
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def count_hops(storage: FileStorage) -> list[object]:
    """Record every function handed to the writer's thread (wraps vault's own
    ``Database.run``, the one call that hands work over; the SQL still runs for real)."""
    database: Any = storage.conn
    assert not database.inline  # a file's writes run on the worker thread
    calls: list[object] = []
    run = database.run

    async def counted(work: Any) -> Any:
        calls.append(work)
        return await run(work)

    database.run = counted
    return calls


#: The peer-cache writes, which are written behind.
PEER_CACHE_WRITES: dict[str, Callable[[SQLiteStorage], Awaitable[object]]] = {
    "update_peers": lambda s: s.update_peers(
        [(1, 2, "user", "alice", "+1"), (3, 4, "bot", "b", None)]
    ),
    "update_usernames": lambda s: s.update_usernames([(1, "al"), (1, "ali")]),
}
#: The writes committed when their call returns.
WRITES: dict[str, Callable[[SQLiteStorage], Awaitable[object]]] = {
    "update_state": lambda s: s.update_state((5, 1, 2, 3, 4)),
    "remove_state": lambda s: s.remove_state(5),
    "user_id": lambda s: s.user_id(42),
    "auth_key": lambda s: s.auth_key(bytes(256)),
}


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_a_write_is_one_hop_and_committed_when_it_returns(
    file_storage: FileStorage, write: str
) -> None:
    hops = count_hops(file_storage)
    await WRITES[write](file_storage)
    assert len(hops) == 1
    # Nothing is left uncommitted on the write connection.
    conn: Any = file_storage.conn
    assert not await conn.run(lambda raw: raw.in_transaction)


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("peer_write", sorted(PEER_CACHE_WRITES))
async def test_a_peer_cache_write_takes_no_hop_and_commits_with_the_next_write(
    file_storage: FileStorage, peer_write: str, write: str
) -> None:
    await file_storage.update_peers([(1, 2, "user", None, None)])
    await file_storage.save()
    hops = count_hops(file_storage)
    await PEER_CACHE_WRITES[peer_write](file_storage)
    assert hops == []
    await WRITES[write](file_storage)
    assert len(hops) == 1
    # A second connection (another process) sees the peer-cache write committed.
    other = sqlite3.connect(file_storage.database)
    try:
        rows = other.execute("SELECT count(*) FROM usernames").fetchone()[0]
        peers = other.execute("SELECT count(*) FROM peers").fetchone()[0]
    finally:
        other.close()
    assert (rows, peers) == ((2, 1) if peer_write == "update_usernames" else (0, 2))


async def test_a_peer_cache_write_is_committed_within_the_flush_delay(
    file_storage: FileStorage,
) -> None:
    await PEER_CACHE_WRITES["update_peers"](file_storage)
    conn: Any = file_storage.conn
    count = "SELECT count(*) FROM peers"
    assert await conn.run(lambda raw: raw.execute(count).fetchone()[0]) == 0
    # The timer, not this read, commits it (a read through the storage would commit it too).
    while file_storage._pending:
        await asyncio.sleep(file_storage.FLUSH_DELAY)
    assert await conn.run(lambda raw: raw.execute(count).fetchone()[0]) == 2


async def test_a_read_waits_for_the_commit_carrying_its_written_behind_write(
    file_storage: FileStorage,
) -> None:
    database: Any = file_storage.conn
    gate = threading.Event()
    # The writer's thread is held (a slow disk), so the commit below stays in flight.
    held = asyncio.ensure_future(database.run(lambda raw: gate.wait(10)))
    try:
        await file_storage.update_peers([(1, 2, "user", None, None)])  # written behind
        state = asyncio.create_task(file_storage.update_state((5, 1, 2, 3, 4)))
        await asyncio.sleep(0)  # the state write has taken the peer row along
        assert not file_storage._pending
        read = asyncio.create_task(file_storage.get_peer_by_id(1))
        await asyncio.sleep(0)
    finally:
        gate.set()
    await held
    await state
    assert (await read).access_hash == 2  # the call that wrote it had returned


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_a_run_of_written_behind_calls_lets_other_tasks_run(
    tmp_path: Path, kind: str
) -> None:
    storage = FileStorage("run", workdir=tmp_path) if kind == "file" else MemoryStorage()
    await storage.open()
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    try:
        await asyncio.sleep(0)
        before = turns
        # Fewer rows than a file's WRITE_CHUNK: none of these calls needs its thread.
        for i in range(FileStorage.WRITE_CHUNK - 1):
            await storage.update_peers([(i + 1, i, "user", None, None)])
        assert turns > before  # the event loop ran other tasks meanwhile
    finally:
        task.cancel()
        await storage.close()


@pytest.mark.parametrize("layout", ["pyrofork", "kurigram"])
async def test_written_behind_calls_for_one_peer_keep_the_last(
    tmp_path: Path, layout: LayoutName
) -> None:
    storage = FileStorage("last", workdir=tmp_path, layout=layout)
    await storage.open()
    try:
        for access_hash, name in enumerate(("first", "second", "third")):
            await storage.update_peers([(1, access_hash, "user", name, None)])
            await storage.update_peers([(2, access_hash, "bot", None, None)])
        assert storage._pending  # still written behind
        assert (await storage.get_peer_by_username("third")).access_hash == 2
        assert (await storage.get_peer_by_id(2)).access_hash == 2
        for stale in ("first", "second"):
            with pytest.raises(KeyError):
                await storage.get_peer_by_username(stale)
    finally:
        await storage.close()


async def test_a_write_that_fails_keeps_the_peer_cache_written_before_it(
    file_storage: FileStorage,
) -> None:
    await file_storage.update_peers([(1, 2, "user", None, None)])
    with pytest.raises(InvalidValueError):
        await file_storage.update_state((5, 2**70, 0, 0, 0))  # no SQLite integer
    assert (await file_storage.get_peer_by_id(1)).access_hash == 2
    assert await file_storage.update_state() == []


async def test_a_failed_one_call_update_leaves_nothing_behind(tmp_path: Path) -> None:
    for storage in (FileStorage("failed", workdir=tmp_path), MemoryStorage()):
        await storage.open()
        try:
            good = [(i, i, "user", f"u{i}", None) for i in range(1, 10)]
            assert len(good) + 1 < storage.WRITE_CHUNK  # one chunk: the one-call path
            with pytest.raises(InvalidValueError):
                await storage.update_peers([*good, (42, 1, None, None, None)])  # type: ignore[list-item]
            with pytest.raises(KeyError):
                await storage.get_peer_by_id(1)
            await storage.update_peers(good)  # no transaction was left open
            assert (await storage.get_peer_by_id(9)).access_hash == 9
        finally:
            await storage.close()


async def test_a_wipe_empties_every_table_in_one_hop(file_storage: FileStorage) -> None:
    await file_storage.update_peers([(1, 2, "user", "alice", "+1")])
    await file_storage.update_state((5, 1, 2, 3, 4))
    await file_storage.user_id(7)
    hops = count_hops(file_storage)
    await file_storage._wipe()
    assert len(hops) == 1
    assert await file_storage.update_state() == []
    assert await file_storage.user_id() is None
    with pytest.raises(KeyError):
        await file_storage.get_peer_by_id(1)


class LoggingEncrypted(EncryptedStorage):
    looked_up: list[int]

    async def get_peer_by_id(self, peer_id: int) -> Any:
        self.looked_up.append(peer_id)
        return await super().get_peer_by_id(peer_id)


async def test_encrypted_pass_through_reaches_the_inner_storage(tmp_path: Path) -> None:
    inner = FileStorage("enc", workdir=tmp_path)
    s = LoggingEncrypted(inner, passphrase="pw", kdf=CHEAP_KDF)
    s.looked_up = []
    await s.open()
    try:
        await s.update_peers([(1, 2, "user", "alice", "+1")])
        await s.update_state((5, 1, 2, 3, 4))
        assert (await inner.get_peer_by_id(1)).access_hash == 2
        with pytest.raises(KeyError):  # the peer cache is sealed: the inner holds a token
            await inner.get_peer_by_username("alice")
        assert (await s.get_peer_by_username("alice")).access_hash == 2
        assert await s.update_state() == [(5, 1, 2, 3, 4)]
        await s.remove_state(5)
        assert await inner.update_state() == []
        # A subclass's own override stays in force after open().
        assert (await s.get_peer_by_id(1)).access_hash == 2
        assert s.looked_up == [1]
    finally:
        await s.close()
