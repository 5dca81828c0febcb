"""A replaced plaintext auth key leaves no copy in the SQLite journal, whatever its mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage


class JournalledFile(FileStorage):
    """A subclass that keeps a rollback journal instead of vault's WAL."""

    MODE = "PERSIST"

    async def open(self) -> None:
        await super().open()
        await self.conn.execute_fetchall(f"PRAGMA journal_mode = {self.MODE}")


@pytest.mark.parametrize("mode", ["PERSIST", "TRUNCATE", "WAL"])
async def test_migration_leaves_no_plaintext_key_in_the_journal(tmp_path: Path, mode: str) -> None:
    key = os.urandom(256)
    plain = FileStorage("j", workdir=tmp_path)
    await plain.open()
    await plain.dc_id(2)
    await plain.auth_key(key)
    await plain.user_id(1)
    await plain.close()

    inner = type("Journalled", (JournalledFile,), {"MODE": mode})("j", workdir=tmp_path)
    storage = await EncryptedStorage.encrypt_plaintext(inner, passphrase="pw", kdf=CHEAP_KDF)
    try:
        assert await storage.auth_key() == key
        journal = tmp_path / "j.session-journal"
        if mode != "WAL":
            assert (await inner.conn.execute_fetchall("PRAGMA journal_mode"))[0][0] == mode.lower()
        for suffix in ("", "-journal", "-wal"):
            path = Path(f"{inner.database}{suffix}")
            if path.exists():
                assert key not in path.read_bytes(), f"the plaintext key is left in {path.name}"
    finally:
        await storage.close()
    assert not journal.exists() or key not in journal.read_bytes()
