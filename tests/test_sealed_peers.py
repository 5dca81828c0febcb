"""The sealed peer cache (issue 14): usernames and phone numbers reach the inner storage only
as blind-index tokens, on real SQLite files and the real MongoDB test server, and lookups by
every form a client uses keep working through key changes and reopens."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.crypto.peer_index import PeerIndex, normalise_phone, normalise_username
from vault.errors import StorageClosedError
from vault.peers import PeerRow
from vault.storage import FileStorage, MongoStorage

from .peer_cache_helpers import (
    COUNT,
    PLAIN_USERNAME,
    check_lookups,
    mongo_documents,
    phone,
    plain_values_in,
    username,
    write_peers,
)
from .servers import MongoClients

PW, NEW_PW = "peer cache passphrase", "another peer cache passphrase"
RAW_KEY = os.urandom(32)
AUTH_KEY = os.urandom(256)


def scan_files(workdir: Path) -> dict[str, list[bytes]]:
    """Plain usernames or phone numbers in any file of ``workdir`` (database, WAL, SHM)."""
    found = {path.name: plain_values_in(path.read_bytes()) for path in workdir.iterdir()}
    return {name: values for name, values in found.items() if values}


def file_storage(workdir: Path, **options: Any) -> EncryptedStorage:
    options.setdefault("passphrase", PW)
    return EncryptedStorage(FileStorage("s", workdir=workdir), kdf=CHEAP_KDF, **options)


@pytest.mark.parametrize("layout", ["pyrofork", "kurigram"])
async def test_no_plain_value_in_sqlite_file_wal_or_shm(tmp_path: Path, layout: str) -> None:
    storage = EncryptedStorage(
        FileStorage("s", workdir=tmp_path, layout=layout), passphrase=PW, kdf=CHEAP_KDF
    )
    await storage.open()
    try:
        await storage.auth_key(AUTH_KEY)
        await write_peers(storage)
        await check_lookups(storage)
        # Scanned while open, so the WAL and SHM files are there too.
        assert {p.name for p in tmp_path.iterdir()} >= {"s.session", "s.session-wal"}
        assert scan_files(tmp_path) == {}
    finally:
        await storage.close()
    assert scan_files(tmp_path) == {}


async def test_the_scan_finds_plain_values(tmp_path: Path) -> None:
    """The scan above can fail: with seal_peers=False the values are in the file."""
    storage = file_storage(tmp_path, seal_peers=False)
    await storage.open()
    await write_peers(storage, 10)
    assert not storage.peers_sealed
    await storage.close()
    found = scan_files(tmp_path)
    assert found and all(PLAIN_USERNAME.search(b"".join(v)) for v in found.values())


async def test_no_plain_value_in_mongodb_documents(mongo_clients: MongoClients) -> None:
    name = f"{mongo_clients.prefix}sealed"
    inner = MongoStorage(name, mongo_clients.connect("pymongo"))
    storage = EncryptedStorage(inner, passphrase=PW, kdf=CHEAP_KDF)
    await storage.open()
    try:
        await storage.auth_key(AUTH_KEY)
        await write_peers(storage)
        await check_lookups(storage)
    finally:
        await storage.close()
    data = await mongo_documents(mongo_clients.connect("pymongo"), name)
    assert len(data) > COUNT * 40  # the documents are there...
    assert plain_values_in(data) == []  # ...with no plain value in them
    reopened = EncryptedStorage(
        MongoStorage(name, mongo_clients.connect("motor")), passphrase=PW, kdf=CHEAP_KDF
    )
    await reopened.open()
    try:
        await check_lookups(reopened)
    finally:
        await reopened.close()


async def test_lookups_survive_passwd_remove_key_and_reopen(tmp_path: Path) -> None:
    storage = file_storage(tmp_path, key=RAW_KEY)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    await write_peers(storage, 100)
    await storage.change_passphrase(NEW_PW)  # rotates the data key
    await check_lookups(storage, (1, 100))
    await storage.close()

    storage = file_storage(tmp_path, passphrase=NEW_PW)
    await storage.open()
    await check_lookups(storage, (1, 100))
    await storage.remove_key(RAW_KEY)  # rotates the data key again
    await storage.close()

    storage = file_storage(tmp_path, passphrase=NEW_PW)
    await storage.open()
    try:
        assert storage.peers_sealed
        assert await storage.auth_key() == AUTH_KEY
        await check_lookups(storage, (1, 50, 100))
    finally:
        await storage.close()
    assert scan_files(tmp_path) == {}


async def test_a_session_not_logged_in_keeps_its_index_key(tmp_path: Path) -> None:
    """The index key exists before any auth key: sealed with an all-zero auth key."""
    storage = file_storage(tmp_path)
    await storage.open()
    await write_peers(storage, 100)
    await storage.close()
    storage = file_storage(tmp_path)
    await storage.open()
    try:
        assert await storage.auth_key() is None
        await check_lookups(storage, (1, 100))
        await storage.auth_key(AUTH_KEY)  # log in, then out: the index key stays
        await storage.auth_key(None)
        assert await storage.auth_key() is None
    finally:
        await storage.close()
    storage = file_storage(tmp_path)
    await storage.open()
    try:
        await check_lookups(storage, (1, 100))
    finally:
        await storage.close()


async def test_an_existing_plain_cache_stays_plain(tmp_path: Path) -> None:
    """A session encrypted without sealing keeps plain lookups (until `seal-peers`)."""
    storage = file_storage(tmp_path, seal_peers=False)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    await write_peers(storage, 10)
    await storage.close()
    storage = file_storage(tmp_path)  # seal_peers=True applies to new vaults only
    await storage.open()
    try:
        assert not storage.peers_sealed
        assert (await storage.get_peer_by_username(username(1))).user_id == 1
        assert (await storage.inner.get_peer_by_username(username(1))).user_id == 1
        assert (await storage.inner.get_peer_by_phone_number(phone(10))).user_id == 10
    finally:
        await storage.close()


async def test_encrypt_plaintext_seals_new_writes(tmp_path: Path) -> None:
    inner = FileStorage("s", workdir=tmp_path)
    await inner.open()
    await inner.auth_key(AUTH_KEY)
    await inner.close()
    storage = await EncryptedStorage.encrypt_plaintext(
        FileStorage("s", workdir=tmp_path), passphrase=PW, kdf=CHEAP_KDF
    )
    try:
        assert storage.peers_sealed
        await write_peers(storage, 10)
        await check_lookups(storage, (1, 10))
    finally:
        await storage.close()
    assert scan_files(tmp_path) == {}


async def test_a_big_update_is_sealed_as_the_inner_storage_takes_it(tmp_path: Path) -> None:
    # The tokens are computed chunk by chunk, other tasks running in between, not all at once.
    storage = EncryptedStorage(FileStorage("s", workdir=tmp_path), key=RAW_KEY)
    await storage.open()
    taken, seen = 0, set()

    def rows() -> Iterator[PeerRow]:
        nonlocal taken
        for i in range(1, COUNT + 1):
            taken = i
            yield (i, i * 3, "user", username(i), phone(i))

    async def watch() -> None:
        while True:
            seen.add(taken)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    try:
        await storage.update_peers(rows())
        assert any(0 < n < COUNT for n in seen)
        assert (await storage.get_peer_by_username(username(COUNT))).user_id == COUNT
        assert (await storage.get_peer_by_phone_number(phone(1))).user_id == 1
    finally:
        watcher.cancel()
        await storage.close()


async def test_closing_during_a_big_update_stops_its_sealing(tmp_path: Path) -> None:
    # Closing wipes the index key: no token may be computed after it (under a wiped key).
    storage = EncryptedStorage(FileStorage("s", workdir=tmp_path), key=RAW_KEY)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    halfway = asyncio.Event()

    def rows() -> Iterator[PeerRow]:
        for i in range(1, COUNT + 1):
            if i == COUNT // 2:
                halfway.set()
            yield (i, i * 3, "user", username(i), phone(i))

    update = asyncio.create_task(storage.update_peers(rows()))
    await halfway.wait()
    await storage.close()
    with pytest.raises(StorageClosedError):
        await update
    conn = sqlite3.connect(tmp_path / "s.session")
    try:
        assert conn.execute("SELECT count(*) FROM peers").fetchone() == (0,)  # rolled back
    finally:
        conn.close()


def test_tokens_follow_the_clients_normalisation() -> None:
    index = PeerIndex(bytes(range(32)))
    assert normalise_username(" @Alice_Bob ") == "alice_bob"
    assert normalise_phone("+1 (555) 010-0") == "15550100"
    assert index.username("@ALICE") == index.username("alice") != index.username("alicf")
    assert index.phone("+15550100") == index.phone("15550100") != index.phone("15550101")
    # Distinct labels: the same text as a username and as a phone number gives other tokens.
    assert index.username("15550100") != index.phone("15550100")
    token = index.username("alice")
    assert re.fullmatch("[0-9a-f]{32}", token)
    assert PeerIndex(bytes(32)).username("alice") != token  # keyed
    assert "alice" not in repr(index) and bytes(range(32)).hex() not in repr(index)
