"""Storage's one lifecycle (new, open, closed), for every subclass, custom ones included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import StorageClosedError, StorageNotOpenError, StorageStateError
from vault.storage import FileStorage, MemoryStorage, Storage


class Minimal(Storage):
    """A backend as Pyrogram's docs write one: open() and close() only, no state of its own."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.calls: list[str] = []
        self.fail_open = 0
        self.value: int | None = None

    async def open(self) -> None:
        self.calls.append("open")
        if self.fail_open:
            self.fail_open -= 1
            raise OSError("the medium is not there yet")

    async def save(self) -> None:
        pass

    async def close(self) -> None:
        self.calls.append("close")

    async def delete(self) -> None:
        self.calls.append("delete")
        await self.close()

    async def dc_id(self, value: Any = None) -> Any:
        self._check_open()
        return self.value

    # The rest of the contract is not needed here.
    update_peers = update_usernames = update_state = dc_id
    get_peer_by_id = get_peer_by_username = get_peer_by_phone_number = dc_id
    api_id = test_mode = auth_key = date = user_id = is_bot = dc_id


async def test_a_custom_backend_gets_the_whole_state_machine() -> None:
    s = Minimal("m")
    assert not s.is_open
    await s.close()  # before open(): nothing happens
    assert s.calls == []
    with pytest.raises(StorageNotOpenError):
        await s.dc_id()
    await s.open()
    assert s.is_open
    with pytest.raises(StorageStateError):
        await s.open()
    await s.close()
    await s.close()  # twice: nothing happens
    assert s.calls == ["open", "close"]
    with pytest.raises(StorageClosedError):
        await s.dc_id()
    with pytest.raises(StorageClosedError):
        await s.open()
    assert s.calls == ["open", "close"]


async def test_a_failed_open_may_be_retried() -> None:
    s = Minimal("m")
    s.fail_open = 1
    with pytest.raises(OSError):
        await s.open()
    assert not s.is_open
    with pytest.raises(StorageNotOpenError):
        await s.dc_id()
    await s.open()
    assert s.is_open and s.calls == ["open", "open"]
    await s.close()


async def test_async_with_opens_and_closes() -> None:
    s = Minimal("m")
    with pytest.raises(ZeroDivisionError):
        async with s as opened:
            assert opened is s and s.is_open
            _ = 1 / 0
    assert s.calls == ["open", "close"]
    with pytest.raises(StorageClosedError):
        await s.dc_id()


async def test_nested_super_calls_pass_straight_through() -> None:
    class Layered(Minimal):
        async def open(self) -> None:
            self.calls.append("layered open")
            await super().open()

        async def close(self) -> None:
            self.calls.append("layered close")
            await super().close()

    s = Layered("l")
    await s.open()
    await s.close()
    assert s.calls == ["layered open", "open", "layered close", "close"]


async def test_delete_closes_through_the_backend() -> None:
    s = Minimal("m")
    await s.open()
    await s.delete()
    assert s.calls == ["open", "delete", "close"]
    assert not s.is_open
    with pytest.raises(StorageClosedError):
        await s.dc_id()


async def test_delete_of_a_closed_sqlite_storage_reopens_it_for_the_wipe() -> None:
    s = MemoryStorage()
    await s.open()
    await s.close()
    await s.delete()  # what clients do on log-out
    with pytest.raises(StorageClosedError):
        await s.open()


@pytest.mark.parametrize("kind", ["file", "memory", "encrypted"])
async def test_vault_backends_follow_the_same_lifecycle(tmp_path: Path, kind: str) -> None:
    storage: Storage
    if kind == "memory":
        storage = MemoryStorage()
    elif kind == "file":
        storage = FileStorage("life", workdir=tmp_path)
    else:
        storage = EncryptedStorage(
            FileStorage("life", workdir=tmp_path), passphrase="pw", kdf=CHEAP_KDF
        )
    async with storage:
        assert storage.is_open
        await storage.dc_id(2)
        with pytest.raises(StorageStateError):
            await storage.open()
    assert not storage.is_open
    with pytest.raises(StorageClosedError):
        await storage.dc_id()
    with pytest.raises(StorageClosedError):
        await storage.open()


async def test_a_subclass_of_the_encrypted_wrapper_keeps_the_lifecycle(tmp_path: Path) -> None:
    class Audited(EncryptedStorage):
        opened = 0

        async def open(self) -> None:
            await super().open()
            type(self).opened += 1

    s = Audited(FileStorage("audited", workdir=tmp_path), passphrase="pw", kdf=CHEAP_KDF)
    async with s:
        assert s.is_open and Audited.opened == 1
        with pytest.raises(StorageStateError):
            await s.open()
    assert Audited.opened == 1
    with pytest.raises(StorageClosedError):
        await s.open()
