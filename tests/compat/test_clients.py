"""vault's storages against the real client installed in this environment (see noxfile.py).

Session files and strings go both ways: made by the client's own storage and read by vault,
made by vault and read by the client. Nothing connects to Telegram: the clients are built,
never started.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

from vault.errors import SchemaError
from vault.storage import FileStorage, MemoryStorage, Storage
from vault.storage.compat import register_clients

from .clients import Client, installed_client

CLIENT = installed_client()
if CLIENT is None:
    pytest.skip(
        "no single Pyrogram-family client installed; run `nox` for these tests",
        allow_module_level=True,
    )
assert CLIENT is not None

AUTH_KEY = os.urandom(256)
SESSION = {"dc_id": 5, "api_id": 2040, "test_mode": False, "auth_key": AUTH_KEY,
           "user_id": 5_000_000_001, "is_bot": True}  # fmt: skip
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
V7_REASON = f"{CLIENT.name} writes the schema version 7 layout, which vault does not read yet"


def raw_type(name: str) -> type:
    return getattr(CLIENT.module("raw.types"), name)  # type: ignore[no-any-return]


async def fill(storage: Any) -> None:
    """Write SESSION and PEERS through ``storage``'s own API (vault's or the client's)."""
    for field, value in SESSION.items():
        await getattr(storage, field)(value)
    if V7_LAYOUT and not isinstance(storage, Storage):
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


async def test_client_file_opens_in_vault(tmp_path: Path) -> None:
    theirs = CLIENT.file_storage("theirs", tmp_path)
    await theirs.open()
    await fill(theirs)
    await theirs.save()
    await theirs.close()

    ours = FileStorage("theirs", workdir=tmp_path)
    if V7_LAYOUT:
        with pytest.raises(SchemaError, match="version 7"):
            await ours.open()
        return
    await ours.open()
    try:
        assert await ours.version() == 4
        await check(ours)
    finally:
        await ours.close()


async def test_vault_file_opens_in_client(tmp_path: Path) -> None:
    if V7_LAYOUT:
        pytest.skip(V7_REASON + " or write")
    ours = FileStorage("ours", workdir=tmp_path)
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
        for field, value in SESSION.items():
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
        for field, value in SESSION.items():
            assert await getattr(theirs, field)() == value, field
    finally:
        await theirs.close()


def client_base(client: Client) -> type:
    module, _, name = client.storage_base.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def test_vault_storages_are_instances_of_the_client_storage(tmp_path: Path) -> None:
    register_clients()
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


async def test_v7_file_still_opens_in_its_client_after_the_refusal(tmp_path: Path) -> None:
    if not V7_LAYOUT:
        pytest.skip("only for clients writing the version 7 layout")
    theirs = CLIENT.file_storage("theirs", tmp_path)
    await theirs.open()
    await fill(theirs)
    await theirs.save()
    await theirs.close()
    with pytest.raises(SchemaError):
        await FileStorage("theirs", workdir=tmp_path).open()

    reopened = CLIENT.file_storage("theirs", tmp_path)
    await reopened.open()
    try:
        await check(reopened)
        assert await reopened.version() == 7
    finally:
        await reopened.close()
