"""Kurigram's and Irenogram's file layout (schema version 7) in vault's SQLite storages.

The contract suite runs over files in this layout too (``TestFileStorageKurigramLayout``); these
tests cover what is particular to it, against the real Kurigram-made file in ``tests/data``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import SchemaError
from vault.storage import FileStorage
from vault.storage.schema import KURIGRAM_VERSION, SCHEMA_VERSION, LayoutName, detect_version

from .test_migrations import DATA, content, load

KURIGRAM_FIXTURE = "kurigram-2.2.26"


def columns(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``table -> [(column, declared type), ...]`` of every table in an SQLite file."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [(r[1], r[2]) for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        db.close()


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


async def make(tmp_path: Path, name: str, layout: LayoutName = "pyrofork") -> FileStorage:
    storage = FileStorage(name, workdir=tmp_path, layout=layout)
    await storage.open()
    return storage


async def test_new_kurigram_file_has_the_clients_tables(tmp_path: Path) -> None:
    storage = await make(tmp_path, "new", layout="kurigram")
    try:
        assert await storage.version() == KURIGRAM_VERSION
        assert storage.layout == "kurigram"
    finally:
        await storage.close()
    assert columns(tmp_path / "new.session") == columns(DATA / f"{KURIGRAM_FIXTURE}.session")
    ours = {r[0] for r in query(tmp_path / "new.session", "SELECT name FROM sqlite_master")}
    theirs = {
        r[0] for r in query(DATA / f"{KURIGRAM_FIXTURE}.session", "SELECT name FROM sqlite_master")
    }
    # Every index and trigger the client makes, bar its duplicate index on the rowid.
    assert theirs - ours == {"idx_peers_id"}


async def test_kurigram_file_is_read_as_it_is(tmp_path: Path) -> None:
    storage, _ = load(KURIGRAM_FIXTURE, tmp_path)
    path = tmp_path / f"{KURIGRAM_FIXTURE}.session"
    before = content(path)
    stored = query(path, "SELECT server_address, port FROM sessions")[0]
    await storage.open()
    try:
        assert await storage.version() == KURIGRAM_VERSION
        assert (await storage.server_address(), await storage.port()) == stored
    finally:
        await storage.close()
    assert content(path) == before  # nothing migrated, nothing added


async def test_server_address_is_kept_in_the_kurigram_layout(tmp_path: Path) -> None:
    storage = await make(tmp_path, "moved", layout="kurigram")
    try:
        await storage.dc_id(4)
        await storage.server_address("2001:67c:4e8:f004::a")
        await storage.port(8443)
    finally:
        await storage.close()
    assert query(
        tmp_path / "moved.session", "SELECT dc_id, server_address, port FROM sessions"
    ) == [(4, "2001:67c:4e8:f004::a", 8443)]
    again = await make(tmp_path, "moved")  # an existing file keeps its layout
    try:
        assert again.layout == "kurigram"
        assert (await again.server_address(), await again.port()) == ("2001:67c:4e8:f004::a", 8443)
    finally:
        await again.close()


async def test_server_address_is_derived_in_pyrofork_layout(tmp_path: Path) -> None:
    """No column for it: the data center's public address, whatever a client writes."""
    storage = await make(tmp_path, "v4")
    try:
        await storage.dc_id(5)
        await storage.server_address("10.0.0.1")
        await storage.port(1)
        assert (await storage.server_address(), await storage.port()) == ("91.108.56.130", 443)
        await storage.dc_id(99)
        assert await storage.server_address() is None and await storage.port() is None
    finally:
        await storage.close()
    assert "server_address" not in dict(columns(tmp_path / "v4.session")["sessions"])


async def test_layout_option_applies_to_new_files_only(tmp_path: Path) -> None:
    await (await make(tmp_path, "old")).close()
    storage = await make(tmp_path, "old", layout="kurigram")
    try:
        assert storage.layout == "pyrofork"
        assert await storage.version() == SCHEMA_VERSION
    finally:
        await storage.close()
    with pytest.raises(ValueError, match="unknown session layout 'telethon'"):
        FileStorage("x", workdir=tmp_path, layout="telethon")  # type: ignore[arg-type]


async def test_usernames_are_stored_as_kurigram_stores_them(tmp_path: Path) -> None:
    storage = await make(tmp_path, "names", layout="kurigram")
    try:
        await storage.update_peers([(1, 10, "user", "main", None), (2, 20, "bot", None)])
        await storage.update_usernames([(2, ["b1", "b2"])])
        await storage.update_peers([(1, 10, "user", "renamed", None)])
        assert (await storage.get_peer_by_username("renamed")).user_id == 1
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("main")
    finally:
        await storage.close()
    path = tmp_path / "names.session"
    assert sorted(query(path, "SELECT id, username FROM usernames")) == [
        (1, "renamed"),
        (2, "b1"),
        (2, "b2"),
    ]
    assert query(path, "SELECT id, phone_number FROM peers ORDER BY id") == [(1, None), (2, None)]


@pytest.mark.parametrize("layout", ["pyrofork", "kurigram"])
async def test_pyrofork_style_usernames_in_either_layout(
    tmp_path: Path, layout: LayoutName
) -> None:
    """docs/compat.md: Pyrofork's client sends a peer's usernames only when it has several, main
    one first, so both layouts resolve all of them; a lone extra username replaces the main one
    in Kurigram's layout (one list), not in Pyrofork's (main username in ``peers``)."""
    storage = await make(tmp_path, "names", layout=layout)
    try:
        # As Pyrofork's fetch_peers does for a peer with several usernames.
        await storage.update_peers([(1, 10, "user", "first", None)])
        await storage.update_usernames([(1, "first"), (1, "second")])
        for name in ("first", "second"):
            assert (await storage.get_peer_by_username(name)).user_id == 1
        await storage.update_peers([(2, 20, "user", "main", None)])
        await storage.update_usernames([(2, "extra")])
        assert (await storage.get_peer_by_username("extra")).user_id == 2
        if layout == "kurigram":
            with pytest.raises(KeyError):
                await storage.get_peer_by_username("main")
        else:
            assert (await storage.get_peer_by_username("main")).user_id == 2
    finally:
        await storage.close()


async def test_encrypting_a_kurigram_file_keeps_its_layout(tmp_path: Path) -> None:
    storage, expected = load(KURIGRAM_FIXTURE, tmp_path)
    key = bytes.fromhex(expected["session"]["auth_key"])
    path = tmp_path / f"{KURIGRAM_FIXTURE}.session"
    address = query(path, "SELECT server_address FROM sessions")[0][0]
    vault = await EncryptedStorage.encrypt_plaintext(storage, passphrase="pw", kdf=CHEAP_KDF)
    try:
        assert await vault.auth_key() == key
        assert await vault.server_address() == address
    finally:
        await vault.close()
    assert key not in path.read_bytes()
    assert query(path, "SELECT number FROM version") == [(KURIGRAM_VERSION,)]
    assert columns(path) == columns(DATA / f"{KURIGRAM_FIXTURE}.session")


@pytest.mark.parametrize("version", [5, 6])
def test_kurigram_intermediate_versions_are_refused(version: int) -> None:
    """Kurigram's versions 5 and 6 have its usernames table but no server address: not read."""
    tables = {"sessions", "peers", "version", "usernames", "update_state"}
    with pytest.raises(SchemaError, match=f"schema version {version}"):
        detect_version(tables, [(version,)])


def test_version_7_without_its_tables_is_refused() -> None:
    with pytest.raises(SchemaError, match="lacks its usernames or update_state table"):
        detect_version({"sessions", "peers", "version"}, [(7,)])
