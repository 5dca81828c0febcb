"""Key-slot changes on a Telethon session (``session.slots``, vault's KeySlots): each change
re-seals the key under a fresh data key and leaves no older envelope in the file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("telethon")

from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession

from vault.crypto import CHEAP_KDF
from vault.errors import KeySlotError, WrongKeyError

from .helpers import AUTH_KEY, PASSPHRASE, encrypted, leave_stale_copy, logged_in

RAW_KEY = os.urandom(32)


def _envelope(path: Path) -> bytes:
    session = SQLiteSession(str(path))
    try:
        return bytes(session.auth_key.key)
    finally:
        session.close()


async def test_add_key_then_remove_the_passphrase(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    await session.slots.add_key(RAW_KEY)
    assert [slot.kind.name for slot in session.slots] == ["PASSPHRASE", "RAW_KEY"]
    session.close()
    (tmp_path / "backup").mkdir()
    shutil.copy(tmp_path / "acct.session", tmp_path / "backup" / "acct.session")

    before = _envelope(tmp_path / "acct")
    leave_stale_copy(tmp_path / "acct.session")
    assert (tmp_path / "acct.session").read_bytes().count(before) == 2
    session = encrypted(tmp_path / "acct", key=RAW_KEY)
    await session.slots.remove(0)
    assert [slot.kind.name for slot in session.slots] == ["RAW_KEY"]
    # The client goes on with the same object; a key written now is sealed under the new
    # data key, and the removed passphrase opens only the backup, with its older key.
    second = os.urandom(256)
    session.auth_key = AuthKey(second)
    session.save()
    session.close()
    stale = before in (tmp_path / "acct.session").read_bytes()
    assert not stale, "the envelope under the retired data key stayed in the file"
    with pytest.raises(WrongKeyError):
        encrypted(tmp_path / "acct")
    assert encrypted(tmp_path / "acct", key=RAW_KEY).auth_key.key == second
    assert encrypted(tmp_path / "backup" / "acct").auth_key.key == AUTH_KEY


async def test_change_passphrase(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    await session.slots.change_passphrase("a new passphrase", kdf=CHEAP_KDF)
    session.close()
    with pytest.raises(WrongKeyError):
        encrypted(tmp_path / "acct")
    assert encrypted(tmp_path / "acct", passphrase="a new passphrase").auth_key.key == AUTH_KEY


async def test_the_last_slot_stays(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    with pytest.raises(KeySlotError, match="last key slot"):
        await session.slots.remove(0)
    session.close()
    assert encrypted(tmp_path / "acct", passphrase=PASSPHRASE).auth_key.key == AUTH_KEY
