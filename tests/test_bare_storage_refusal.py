"""vault's bare storages refuse to hand out a sealed envelope as an auth key (issue 16, item 1):
a client given ``FileStorage("name")`` for an encrypted session must fail at once, with an
error that says to wrap it in EncryptedStorage, not far away with a 419-byte "key"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest

from vault import EncryptedStorage
from vault.crypto.envelope import is_envelope
from vault.errors import SealedAuthKeyError, StorageError, VaultError
from vault.storage import FileStorage, MemoryStorage, MongoStorage, SQLiteStorage, Storage

from .cli_helpers import CHEAP, client_fixture, run_cli
from .servers import MongoClients

KEY = bytes(range(256))
RAW_KEY = b"\x07" * 32


class OwnSQLite(SQLiteStorage):
    """An SQLiteStorage subclass over a file, as the SQLiteStorage docstring shows."""

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path

    async def open(self) -> None:
        self.conn = await aiosqlite.connect(self.path, isolation_level=None)
        await self.create()


@pytest.fixture
async def makers(
    tmp_path: Path, mongo_clients: MongoClients
) -> AsyncIterator[dict[str, Callable[[], Storage]]]:
    conn = mongo_clients.connect("pymongo")
    name = f"{mongo_clients.prefix}bare"
    yield {
        "file": lambda: FileStorage("bare", workdir=tmp_path),
        "sqlite": lambda: OwnSQLite("bare", tmp_path / "own.db"),
        "mongo": lambda: MongoStorage(name, conn),
    }


async def _sealed_into(make: Callable[[], Storage]) -> None:
    storage = EncryptedStorage(make(), key=RAW_KEY)
    await storage.open()
    try:
        await storage.auth_key(KEY)
    finally:
        await storage.close()


@pytest.mark.parametrize("backend", ["file", "sqlite", "mongo"])
async def test_a_bare_storage_refuses_the_envelope(
    makers: dict[str, Callable[[], Storage]], backend: str
) -> None:
    make = makers[backend]
    await _sealed_into(make)
    bare = make()
    await bare.open()
    try:
        for read in (bare.auth_key, bare.session_data):
            with pytest.raises(SealedAuthKeyError) as raised:
                await read()
            assert isinstance(raised.value, StorageError | VaultError)
            message = str(raised.value)
            assert "EncryptedStorage(" in message and "is encrypted by session-vault" in message
        assert await bare.user_id() is None  # other fields still read
    finally:
        await bare.close()
    # Wrapped, the same session opens and gives the key.
    wrapped = EncryptedStorage(make(), key=RAW_KEY)
    await wrapped.open()
    try:
        assert await wrapped.auth_key() == KEY
    finally:
        await wrapped.close()


async def test_memory_storage_refuses_an_envelope_written_into_it(tmp_path: Path) -> None:
    source = FileStorage("source", workdir=tmp_path)
    await _sealed_into(lambda: source)
    reader = FileStorage("source", workdir=tmp_path)
    reader.expects_envelopes = True  # the hook: this reader takes envelopes as they are
    await reader.open()
    try:
        envelope = await reader.auth_key()
    finally:
        await reader.close()
    assert is_envelope(envelope)
    memory = MemoryStorage()
    await memory.open()
    try:
        await memory.auth_key(envelope)
        with pytest.raises(SealedAuthKeyError):
            await memory.auth_key()
    finally:
        await memory.close()


def test_encrypt_shows_the_line_of_code_to_change(tmp_path: Path) -> None:
    client_fixture("pyrofork-2.3.69", tmp_path)
    (tmp_path / "pw.txt").write_text("show me the code")
    result = run_cli(
        "encrypt", "account.session", "--passphrase-file", "pw.txt", *CHEAP, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(
        "open it with EncryptedStorage(FileStorage('account'), passphrase=...)"
    )
    (tmp_path / "sub").mkdir()
    elsewhere = client_fixture("pyrofork-2.3.69", tmp_path / "sub")
    result = run_cli("encrypt", elsewhere.path, "--passphrase-file", tmp_path / "pw.txt", *CHEAP)
    assert result.returncode == 0, result.stderr
    expected = f"FileStorage('account', workdir={str(tmp_path / 'sub')!r}), passphrase=...)"
    assert result.stdout.rstrip().endswith(expected)
