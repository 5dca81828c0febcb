"""vault's storages against the real client installed in this environment (see noxfile.py).

Session files and strings go both ways: made by the client's own storage and read by vault,
made by vault and read by the client. Nothing connects to Telegram: the clients are built,
never started.
"""

from __future__ import annotations

import importlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.storage import FileStorage, MemoryStorage
from vault.storage.installed import default_layout, installed_client

from .clients import Client, required_client

CLIENT = required_client()

AUTH_KEY = os.urandom(256)
SESSION = {"dc_id": 5, "api_id": 2040, "test_mode": False, "auth_key": AUTH_KEY,
           "user_id": 5_000_000_001, "is_bot": True}  # fmt: skip
#: The fields a session string carries.
STRING_FIELDS = dict(SESSION)
#: DC 5's public address, which the version 7 clients store with the dc id (vault derives it
#: from the dc id in the other layout).
ADDRESS = {"server_address": "91.108.56.130", "port": 443}
#: (id, access_hash, type, username, phone_number), in the types every client knows.
PEERS = [
    (5_000_000_001, 0x1234_5678, "user", "compat_user", "15550001"),
    (-4_000_003, None, "group", None, None),
    (-1_001_000_000_004, -0x7766_5544, "channel", "compat_channel", None),
]
#: What each peer's lookup must give: (raw type name, its fields).
INPUT_PEERS = {
    5_000_000_001: ("InputPeerUser", {"user_id": 5_000_000_001, "access_hash": 0x1234_5678}),
    -4_000_003: ("InputPeerChat", {"chat_id": 4_000_003}),
    -1_001_000_000_004: (
        "InputPeerChannel",
        {"channel_id": 1_000_000_004, "access_hash": -0x7766_5544},
    ),
}
V7_LAYOUT = CLIENT.schema_version == 7
if V7_LAYOUT:
    SESSION.update(ADDRESS)
#: The layout vault writes files in for this client, and the version vault leaves its files at.
LAYOUT = "kurigram" if V7_LAYOUT else "pyrofork"
OPENED_VERSION = 7 if V7_LAYOUT else 4
PASSPHRASE = "compat passphrase"
CHEAP_KDF = ["--kdf-time-cost", "1", "--kdf-memory-kib", "8", "--kdf-parallelism", "1"]


def raw_type(name: str) -> type:
    return getattr(CLIENT.module("raw.types"), name)  # type: ignore[no-any-return]


async def fill(storage: Any) -> None:
    """Write SESSION and PEERS through ``storage``'s own API (vault's or the client's), in
    the shapes this client passes (vault takes both)."""
    for field, value in SESSION.items():
        await getattr(storage, field)(value)
    if V7_LAYOUT:
        await storage.update_peers([(p[0], p[1], p[2], p[4]) for p in PEERS])
        await storage.update_usernames([(p[0], [p[3]]) for p in PEERS if p[3]])
    else:
        await storage.update_peers(PEERS)


async def check(storage: Any) -> None:
    """Read SESSION and PEERS back through ``storage``; lookups give the client's raw types."""
    for field, value in SESSION.items():
        assert await getattr(storage, field)() == value, field
    for peer_id, (type_name, fields) in INPUT_PEERS.items():
        peer = await storage.get_peer_by_id(peer_id)
        assert type(peer) is raw_type(type_name)
        assert {name: getattr(peer, name) for name in fields} == fields
    user = await storage.get_peer_by_username("compat_user")
    assert type(user) is raw_type("InputPeerUser")
    assert user.user_id == PEERS[0][0]
    assert (await storage.get_peer_by_phone_number("15550001")).user_id == PEERS[0][0]


async def client_file(name: str, tmp_path: Path) -> None:
    """``tmp_path/<name>.session``, filled by the client's own file storage."""
    theirs = CLIENT.file_storage(name, tmp_path)
    await theirs.open()
    await fill(theirs)
    await theirs.save()
    await theirs.close()


async def test_client_file_opens_in_vault(tmp_path: Path) -> None:
    await client_file("theirs", tmp_path)

    ours = FileStorage("theirs", workdir=tmp_path)
    await ours.open()
    try:
        assert await ours.version() == OPENED_VERSION
        await check(ours)
    finally:
        await ours.close()


async def test_vault_file_opens_in_client(tmp_path: Path) -> None:
    ours = FileStorage("ours", workdir=tmp_path, layout=LAYOUT)
    await ours.open()
    await fill(ours)
    await ours.save()
    await ours.close()

    theirs = CLIENT.file_storage("ours", tmp_path)
    await theirs.open()
    try:
        await check(theirs)
    finally:
        await theirs.close()


async def test_client_string_imports_in_vault() -> None:
    theirs = CLIENT.memory_storage("theirs", None)
    await theirs.open()
    await fill(theirs)
    session_string = await theirs.export_session_string()
    await theirs.close()

    ours = MemoryStorage("ours", session_string=session_string)
    await ours.open()
    try:
        for field, value in STRING_FIELDS.items():
            assert await getattr(ours, field)() == value, field
        assert await ours.export_session_string() == session_string
    finally:
        await ours.close()


async def test_vault_string_imports_in_client() -> None:
    ours = MemoryStorage("ours")
    await ours.open()
    await fill(ours)
    session_string = await ours.export_session_string()
    await ours.close()

    theirs = CLIENT.memory_storage("theirs", session_string)
    await theirs.open()
    try:
        for field, value in STRING_FIELDS.items():
            assert await getattr(theirs, field)() == value, field
    finally:
        await theirs.close()


def client_base(client: Client) -> type:
    module, _, name = client.storage_base.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def test_vault_storages_are_instances_of_the_client_storage(tmp_path: Path) -> None:
    base = client_base(CLIENT)
    assert isinstance(FileStorage("x", workdir=tmp_path), base)
    assert isinstance(MemoryStorage(), base)
    assert not isinstance(object(), base)


async def test_client_constructor_accepts_vault_storage(tmp_path: Path) -> None:
    if CLIENT.storage_keyword is None:
        pytest.skip(f"{CLIENT.name} {CLIENT.version} has no storage argument (see docs/compat.md)")
    client_class = importlib.import_module(CLIENT.package).Client
    storage = FileStorage("engine", workdir=tmp_path)
    client = client_class("engine", api_id=1, api_hash="0" * 32, workdir=str(tmp_path),
                          **{CLIENT.storage_keyword: storage})  # fmt: skip
    assert client.storage is storage


async def test_client_replaces_foreign_storage_objects(tmp_path: Path) -> None:
    """Shows the check above can fail: a storage the client does not recognise is replaced."""
    if CLIENT.storage_keyword in (None, "storage"):
        pytest.skip(f"{CLIENT.name} does not type-check its storage argument")
    client_class = importlib.import_module(CLIENT.package).Client
    foreign = object()
    client = client_class("engine", api_id=1, api_hash="0" * 32, workdir=str(tmp_path),
                          **{CLIENT.storage_keyword: foreign})  # fmt: skip
    assert client.storage is not foreign


async def test_client_file_written_by_vault_still_opens_in_its_client(tmp_path: Path) -> None:
    await client_file("theirs", tmp_path)
    ours = FileStorage("theirs", workdir=tmp_path)
    await ours.open()
    try:
        await ours.update_peers([(7_000_000_007, 77, "user", "compat_new", None)])
        await ours.update_state((0, 1, 2, 3, 4))
        await ours.save()
    finally:
        await ours.close()

    reopened = CLIENT.file_storage("theirs", tmp_path)
    await reopened.open()
    try:
        await check(reopened)
        assert (await reopened.get_peer_by_username("compat_new")).user_id == 7_000_000_007
    finally:
        await reopened.close()
    db = sqlite3.connect(tmp_path / "theirs.session")
    try:
        assert db.execute("SELECT number FROM version").fetchall() == [(OPENED_VERSION,)]
    finally:
        db.close()


def encrypt_with_the_cli(path: Path, tmp_path: Path) -> None:
    """``session-vault encrypt PATH``, as a user runs it."""
    secret = tmp_path / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n")
    command = [
        sys.executable,
        "-m",
        "vault",
        "encrypt",
        str(path),
        "--passphrase-file",
        str(secret),
    ]
    result = subprocess.run(
        [*command, *CHEAP_KDF], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr


async def test_default_layout_is_the_installed_clients(tmp_path: Path) -> None:
    """Without ``layout=``, vault creates a file (named by its path) that the installed
    client's own storage opens, and ``info`` says which client and layout that is."""
    expected = None if CLIENT.package != "pyrogram" else CLIENT.distribution.lower()
    assert installed_client() == expected
    assert default_layout() == LAYOUT

    ours = FileStorage(str(tmp_path / "default.session"))
    assert ours.database == tmp_path / "default.session" and ours.name == "default"
    await ours.open()
    await fill(ours)
    await ours.save()
    await ours.close()

    theirs = CLIENT.file_storage("default", tmp_path)
    await theirs.open()
    try:
        await check(theirs)
    finally:
        await theirs.close()

    result = subprocess.run(
        [sys.executable, "-m", "vault", "info", "--json", str(tmp_path / "default.session")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)["results"]
    facts = entry["info"]
    assert (facts["installed_client"], facts["new_file_layout"]) == (expected, LAYOUT)
    assert facts["client_reads_it"] is (None if expected is None else True)


def client_on(storage: EncryptedStorage, name: str, tmp_path: Path) -> Any:
    """The client's own ``Client`` (never connected) over ``storage``."""
    client_class = importlib.import_module(CLIENT.package).Client
    keyword = {CLIENT.storage_keyword: storage} if CLIENT.storage_keyword else {}
    client = client_class(name, api_id=1, api_hash="0" * 32, workdir=str(tmp_path), **keyword)
    if not keyword:
        client.storage = storage
    return client


async def test_client_runs_on_its_encrypted_file(tmp_path: Path) -> None:
    """A client-made file, encrypted by the CLI, under the client's own Client: it loads the
    session and caches peers through vault (no network: the client is never connected)."""
    await client_file("mine", tmp_path)
    encrypt_with_the_cli(tmp_path / "mine.session", tmp_path)
    assert AUTH_KEY not in (tmp_path / "mine.session").read_bytes()

    storage = EncryptedStorage(FileStorage("mine", workdir=tmp_path), passphrase=PASSPHRASE)
    client = client_on(storage, "mine", tmp_path)
    assert client.storage is storage
    await client.load_session()  # the client's own start-up reads
    try:
        await check(storage)
        for field, value in ADDRESS.items():
            assert await getattr(storage, field)() == value
        user = raw_type("User")(id=8_000_000_008, access_hash=88, username="Fetched", phone="1")
        await client.fetch_peers([user])
        fetched = await storage.get_peer_by_username("fetched")  # the client lower-cased it
        assert (type(fetched), fetched.user_id) == (raw_type("InputPeerUser"), 8_000_000_008)
        assert (await storage.get_peer_by_phone_number("1")).access_hash == 88
        await update_states(storage)
        await storage.save()
    finally:
        await storage.close()


async def update_states(storage: EncryptedStorage) -> None:
    """The update-state calls this client makes: Kurigram's API, or Pyrofork's."""
    storage_module = CLIENT.module("storage")
    state_class = getattr(storage_module, "UpdateState", None)
    if state_class is None:
        await storage.update_state((0, 10, 20, 30, 40))
        assert await storage.update_state() == [(0, 10, 20, 30, 40)]
        return
    assert await storage.get_update_states(0) == []
    await storage.set_update_state(state_class(0, 10, 20, 30, 40))
    await storage.set_update_state(state_class(0, 11, None, None, None))
    [state] = await storage.get_update_states(0)
    assert state == state_class(0, 11, 20, 30, 40)  # the client's own class


SEALED_USERS = 10_000


def sealed_user(i: int) -> str:
    return f"SealedUser{i:05d}"


def sealed_phone(i: int) -> str:
    return f"99955577{i:05d}"


def plain_values_in(data: bytes) -> bool:
    """Whether ``data`` holds a username or phone number of :func:`resolve_sealed_offline`'s
    users, in any case, with or without ``@``/``+``."""
    return b"sealeduser" in data.lower() or b"99955577" in data


async def resolve_sealed_offline(storage: EncryptedStorage, client: Any) -> None:
    """The client's own ``fetch_peers`` caches :data:`SEALED_USERS` users through the open
    ``storage``, and its ``resolve_peer`` finds them by username and phone offline."""
    await storage.auth_key(AUTH_KEY)
    users = [
        raw_type("User")(
            id=10_000_000 + i, access_hash=i, username=sealed_user(i), phone=sealed_phone(i)
        )
        for i in range(SEALED_USERS)
    ]
    await client.fetch_peers(users)
    # Never connected: resolve_peer only checks the flag, then reads the cache (a miss
    # would go to the network and fail the test).
    client.is_connected = True
    for i in (0, 4321, SEALED_USERS - 1):
        for text in (f"@{sealed_user(i)}", sealed_user(i).lower()):
            peer = await client.resolve_peer(text)
            assert (peer.user_id, peer.access_hash) == (10_000_000 + i, i)
        assert (await client.resolve_peer(f"+{sealed_phone(i)}")).user_id == 10_000_000 + i
    await storage.save()


async def test_client_resolves_sealed_peers_offline(tmp_path: Path) -> None:
    """:func:`resolve_sealed_offline` on a session file; no username or phone number is in
    the file, its WAL or SHM (MongoDB: test_client_mongo.py)."""
    storage = EncryptedStorage(FileStorage("sealed", workdir=tmp_path), passphrase=PASSPHRASE)
    await storage.open()
    try:
        await resolve_sealed_offline(storage, client_on(storage, "sealed", tmp_path))
        files = [p for p in tmp_path.iterdir() if p.name.startswith("sealed.session")]
        assert len(files) >= 2  # the database and its WAL, scanned while open
        for path in files:
            assert not plain_values_in(path.read_bytes()), path.name
    finally:
        await storage.close()
