"""The hop-free read path of FileStorage and MemoryStorage, chunked writes, and the KDF count."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import vault.crypto.kdf
from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import InvalidValueError
from vault.storage import FileStorage, MemoryStorage, SQLiteStorage


@pytest.fixture(params=["file", "memory"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLiteStorage]:
    s: SQLiteStorage = (
        FileStorage("reads", workdir=tmp_path) if request.param == "file" else MemoryStorage()
    )
    await s.open()
    try:
        yield s
    finally:
        await s.close()


def user(peer_id: int, access_hash: int, phone: str | None = None) -> Any:
    return (peer_id, access_hash, "user", f"u{peer_id}", phone)


async def test_reads_go_through_a_reader_connection(storage: SQLiteStorage) -> None:
    assert storage._reader is not None


async def test_every_committed_write_is_seen_by_the_next_read(storage: SQLiteStorage) -> None:
    for round_ in range(1, 30):
        await storage.update_peers([user(100 + round_ % 3, round_, f"+{round_ % 3}")])
        peer = await storage.get_peer_by_id(100 + round_ % 3)
        assert peer.access_hash == round_
        assert (await storage.get_peer_by_username(f"u{100 + round_ % 3}")).access_hash == round_
        assert (await storage.get_peer_by_phone_number(f"+{round_ % 3}")).access_hash == round_
        await storage.update_state((round_, round_, 0, 0, 0))
        assert (round_, round_, 0, 0, 0) in await storage.update_state()
        await storage.user_id(round_)
        assert await storage.user_id() == round_


async def test_a_phone_shared_by_two_peers_does_not_pin_an_old_snapshot(
    storage: SQLiteStorage,
) -> None:
    await storage.update_peers([user(1, 1, "+7"), user(2, 2, "+7")])
    await storage.get_peer_by_phone_number("+7")
    await storage.update_peers([user(1, 11, "+8"), user(2, 22, "+8")])
    with pytest.raises(KeyError):
        await storage.get_peer_by_phone_number("+7")
    assert (await storage.get_peer_by_phone_number("+8")).access_hash in {11, 22}


async def test_a_username_shared_by_two_peers_does_not_pin_an_old_snapshot(
    storage: SQLiteStorage,
) -> None:
    await storage.update_peers([(1, 1, "user", "same", None), (2, 2, "user", "same", None)])
    await storage.get_peer_by_username("same")
    await storage.update_peers([(1, 11, "user", "moved", None), (2, 22, "user", "moved", None)])
    with pytest.raises(KeyError):
        await storage.get_peer_by_username("same")
    assert (await storage.get_peer_by_username("moved")).access_hash in {11, 22}


async def test_chunked_update_keeps_every_row_and_the_last_duplicate(
    storage: SQLiteStorage,
) -> None:
    storage.WRITE_CHUNK = 7
    rows = [user(1000 - i, i) for i in range(100)]
    rows += [user(999, -1), user(5, 5), user(999, -2)]  # later rows for one id win
    await storage.update_peers(iter(rows))
    assert (await storage.get_peer_by_id(999)).access_hash == -2
    assert (await storage.get_peer_by_id(5)).access_hash == 5
    for i in range(2, 100):
        assert (await storage.get_peer_by_id(1000 - i)).access_hash == i


async def test_other_tasks_run_between_chunks_and_read_safely(storage: SQLiteStorage) -> None:
    await storage.update_peers([user(1, 1)])
    storage.WRITE_CHUNK = 10
    seen: list[int] = []
    writing = asyncio.Event()

    async def reader() -> None:
        await writing.wait()
        while not done.is_set():
            seen.append((await storage.get_peer_by_id(1)).access_hash)
            await asyncio.sleep(0)

    done = asyncio.Event()
    task = asyncio.create_task(reader())
    writing.set()
    await asyncio.sleep(0)
    await storage.update_peers([user(2 + i, i) for i in range(500)] + [user(1, 2)])
    done.set()
    await task
    assert seen, "no other task ran while 51 chunks were written"
    assert set(seen) <= {1, 2}
    assert (await storage.get_peer_by_id(1)).access_hash == 2


async def test_a_read_during_a_chunked_update_never_sees_its_uncommitted_rows(
    storage: SQLiteStorage,
) -> None:
    """A lookup made between the chunks of an update that is then rolled back must not find
    the peer the update wrote (for MemoryStorage it did: it read through its writer)."""
    storage.WRITE_CHUNK = 10
    events: list[str] = []

    def rows() -> Any:
        yield from (user(i, i) for i in range(1, storage.WRITE_CHUNK + 1))
        events.append("second chunk asked for")
        raise ValueError("the source of peers failed")

    async def look() -> None:
        try:
            events.append(f"found {(await storage.get_peer_by_id(1)).access_hash}")
        except KeyError:
            events.append("not found")

    update = asyncio.create_task(storage.update_peers(rows()))
    lookup = asyncio.create_task(look())
    with pytest.raises(ValueError, match="source of peers"):
        await update
    await lookup
    assert "not found" in events and not any(e.startswith("found") for e in events)
    with pytest.raises(KeyError):
        await storage.get_peer_by_id(1)


async def test_a_failed_update_leaves_nothing_behind(storage: SQLiteStorage) -> None:
    storage.WRITE_CHUNK = 3
    good = [user(i, i) for i in range(1, 10)]
    with pytest.raises(InvalidValueError, match="NOTNULL"):
        await storage.update_peers([*good, (42, 1, None, None, None)])  # type: ignore[list-item]
    with pytest.raises(KeyError):
        await storage.get_peer_by_id(1)
    await storage.update_peers(good)
    assert (await storage.get_peer_by_id(9)).access_hash == 9


@pytest.mark.parametrize(
    "row",
    [(2**70, 1, "user", "big_id", None), (5, 1, "user", ["not", "text"], None)],
    ids=["int past 64 bits", "list"],
)
async def test_a_value_sqlite_cannot_store_is_an_invalid_value(
    storage: SQLiteStorage, row: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidValueError, match="cannot store"):
        await storage.update_peers([user(1, 1), row])  # type: ignore[list-item]
    with pytest.raises(KeyError):
        await storage.get_peer_by_id(1)
    await storage.update_peers([user(1, 1)])
    assert (await storage.get_peer_by_id(1)).access_hash == 1


async def test_checkpoint_is_not_held_up_by_the_reader(tmp_path: Path) -> None:
    s = FileStorage("wal", workdir=tmp_path)
    await s.open()
    try:
        await s.update_peers([user(i, i) for i in range(1, 2000)])
        await s.get_peer_by_id(5)  # the reader now holds a read transaction
        await s.purge_stale_copies()
        assert os.path.getsize(f"{s.database}-wal") == 0
        assert (await s.get_peer_by_id(5)).access_hash == 5
    finally:
        await s.close()


async def test_closing_closes_the_reader(tmp_path: Path) -> None:
    s = FileStorage("closing", workdir=tmp_path)
    await s.open()
    reader = s._reader
    assert reader is not None
    await s.close()
    assert s._reader is None
    with pytest.raises(Exception, match="closed"):
        reader.execute("SELECT 1")


# --- Argon2id runs per open ------------------------------------------------------------------


@pytest.fixture
def argon2_runs(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count real Argon2id runs by wrapping the library call vault makes."""
    real = vault.crypto.kdf.hash_secret_raw
    count = 0

    def counting(*args: Any, **kwargs: Any) -> bytes:
        nonlocal count
        count += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(vault.crypto.kdf, "hash_secret_raw", counting)
    return lambda: count


@pytest.mark.parametrize("inner", ["file", "memory"])
async def test_open_runs_argon2id_exactly_once(
    inner: str, tmp_path: Path, argon2_runs: Callable[[], int]
) -> None:
    def make(**unlock: Any) -> EncryptedStorage:
        base = FileStorage("kdf", workdir=tmp_path) if inner == "file" else MemoryStorage("kdf")
        return EncryptedStorage(base, kdf=CHEAP_KDF, **unlock)

    s = make(passphrase="pw", key=bytes(32))
    await s.open()
    assert argon2_runs() == 1  # creating the passphrase slot
    await s.auth_key(os.urandom(256))
    await s.user_id(777000)
    await s.update_peers([user(1, 1)])
    await s.get_peer_by_id(1)
    string = await s.export_session_string()
    await s.close()
    assert argon2_runs() == 1
    if inner == "file":
        again = make(passphrase="pw")
        await again.open()
        assert argon2_runs() == 2
        await again.close()
        by_key = make(key=bytes(32))
        await by_key.open()
        assert argon2_runs() == 2  # a raw-key slot needs no KDF
        await by_key.close()
    resumed = EncryptedStorage(
        MemoryStorage("kdf"), passphrase="pw", session_string=string, kdf=CHEAP_KDF
    )
    await resumed.open()
    assert argon2_runs() == (3 if inner == "file" else 2)
    await resumed.close()
