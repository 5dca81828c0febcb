"""The key-slot API (``storage.slots``) and what a slot change revokes: removing a slot or
changing a passphrase rotates the data key, so an old copy (a backup of the file, an earlier
``vault1:`` string) plus the removed key or the old passphrase opens that copy's own auth
key only, never one written after the change."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Envelope, Purpose, parse
from vault.crypto.keyset import Keyset
from vault.crypto.slots import Credentials
from vault.crypto.strings import parse_encrypted_string
from vault.errors import CorruptedError, KeySlotError
from vault.keyslots import KeySlots
from vault.storage import FileStorage

from .tampering import session_path, stored_auth_key

PW = "correct horse battery staple"
RAW_KEY = bytes(range(32))


def storage(workdir: Path, **unlock: object) -> EncryptedStorage:
    options: dict[str, object] = {"kdf": CHEAP_KDF, **(unlock or {"passphrase": PW})}
    return EncryptedStorage(FileStorage("s", workdir=workdir), **options)  # type: ignore[arg-type]


async def stored_envelope(workdir: Path) -> Envelope:
    return parse(stored_auth_key(session_path(workdir, "s")) or b"", Purpose.AUTH_KEY)


def attacker_reads(old: Envelope, new: Envelope, **credential: object) -> bytes:
    """What an attacker holding ``old`` and the old credential gets from ``new``: the data
    key of the old copy, tried on the new envelope (no vault code path refuses it first)."""
    keyset = Keyset.unlock(old.header, Credentials.from_args(**credential))  # type: ignore[arg-type]
    try:
        return keyset.open(new, Purpose.AUTH_KEY)
    finally:
        keyset.wipe()


async def test_remove_key_revokes_it_for_auth_keys_written_later(tmp_path: Path) -> None:
    workdir, backup = tmp_path / "live", tmp_path / "backup"
    s = storage(workdir, passphrase=PW, key=RAW_KEY)
    await s.open()
    old_key = os.urandom(256)
    await s.auth_key(old_key)
    await s.close()
    backup.mkdir()
    shutil.copy(workdir / "s.session", backup / "s.session")

    s = storage(workdir)
    await s.open()
    await s.remove_key(RAW_KEY)
    new_key = os.urandom(256)
    await s.auth_key(new_key)  # e.g. written by the client after a DC migration
    await s.close()

    old, new = await stored_envelope(backup), await stored_envelope(workdir)
    with pytest.raises(CorruptedError):
        attacker_reads(old, new, key=RAW_KEY)
    # What the old copy still gives: its own, older auth key.
    # The payload is the auth key, then (format v2) the peer index key.
    assert attacker_reads(old, old, key=RAW_KEY)[:256] == old_key


async def test_passwd_revokes_the_old_passphrase_of_an_earlier_string(tmp_path: Path) -> None:
    s = storage(tmp_path)
    await s.open()
    await s.auth_key(os.urandom(256))
    await s.user_id(1)
    earlier = parse_encrypted_string(await s.export_session_string())
    await s.change_passphrase("a new passphrase")
    await s.auth_key(os.urandom(256))
    await s.close()

    new = await stored_envelope(tmp_path)
    with pytest.raises(CorruptedError):
        attacker_reads(earlier, new, passphrase=PW)


async def test_slots_api_reports_the_unlocking_slot_and_changes_slots(tmp_path: Path) -> None:
    s = storage(tmp_path, passphrase=PW, key=RAW_KEY)
    await s.open()
    await s.auth_key(os.urandom(256))
    await s.close()

    s = storage(tmp_path, key=RAW_KEY)
    await s.open()
    slots: KeySlots = s.slots
    assert [slot.kind.name for slot in slots] == ["RAW_KEY", "PASSPHRASE"]
    assert slots.unlocked_by == 0 and len(slots) == 2
    assert slots.uncovered() == (1,)  # the passphrase slot: vault never saw its passphrase
    await slots.add_passphrase("second", kdf=CHEAP_KDF)
    assert slots.uncovered() == (1,)
    with pytest.raises(KeySlotError, match=r"slot\(s\) 1 \(passphrase\)"):
        await slots.remove(2)
    assert len(slots) == 3  # refused whole: nothing changed
    assert await slots.cover(passphrase=PW) == (1,)
    await slots.remove(2)
    await slots.remove(0)  # the unlocking slot itself, through the library
    assert slots.unlocked_by is None and [slot.kind.name for slot in slots] == ["PASSPHRASE"]
    await s.close()
    s = storage(tmp_path)
    await s.open()
    assert s.slots.unlocked_by == 0
    await s.close()


async def test_rotation_keeps_keyring_slots_without_their_owner(
    tmp_path: Path, dict_keyring: object
) -> None:
    s = storage(tmp_path, passphrase=PW, keyring=True)
    await s.open()
    key = os.urandom(256)
    await s.auth_key(key)
    await s.change_passphrase("new")  # re-wraps the keyring slot with its key from the keyring
    await s.close()
    s = storage(tmp_path, keyring=True)
    await s.open()
    assert await s.auth_key() == key
    await s.close()
