"""EncryptedStorage over real File, Memory and custom backends: the issue's usage block, wrong
keys with the stored bytes unchanged, raw-file scans, plaintext migration, rebinding, key slots,
and no secret in reprs, logs or errors. (Every changed byte of a stored envelope, and envelopes
swapped between sessions or fields: ``tests/reliability/test_tamper.py``.)"""

from __future__ import annotations

import base64
import logging
import os
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vault.crypto.slots
from vault import EncryptedStorage, decrypt_session_string
from vault.crypto import CHEAP_KDF, DEFAULT_KDF, KdfParams
from vault.crypto.envelope import Purpose, parse
from vault.crypto.slots import PassphraseSlot, RawKeySlot
from vault.errors import (
    CorruptedError,
    KeySlotError,
    PlaintextSessionError,
    StorageClosedError,
    WrongKeyError,
)
from vault.session_string import ENCRYPTED_PREFIX, decode_session_string
from vault.storage import FileStorage, MemoryStorage, Storage

from .encrypted_helpers import DictStorage, data_key, log_in
from .tampering import PASSPHRASE as PW
from .tampering import (
    make_session,
    raw_bytes,
    session_files,
    session_path,
    store_auth_key,
    stored_auth_key,
)

RAW_KEY = bytes(range(32))


def encrypted(inner: Storage, **kwargs: Any) -> EncryptedStorage:
    kwargs.setdefault("passphrase", PW)
    return EncryptedStorage(inner, kdf=CHEAP_KDF, **kwargs)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


def stored(workdir: Path, name: str = "my_account") -> bytes:
    """What the inner (plain) storage holds in its auth key field."""
    value = stored_auth_key(session_path(workdir, name))
    assert isinstance(value, bytes)
    return value


# --- the usage block of the issue ----------------------------------------------------------


InnerFactory = Callable[[Path, dict[str, Any]], Storage]
INNERS: dict[str, InnerFactory] = {
    "file": lambda workdir, _: FileStorage("my_account", workdir=workdir),
    "custom": lambda _, server: DictStorage("my_account", server),
}


@pytest.mark.parametrize("kind", sorted(INNERS))
async def test_usage_block(kind: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_PASSPHRASE", PW)
    server: dict[str, Any] = {}
    storage = encrypted(INNERS[kind](workdir, server), passphrase=os.environ["VAULT_PASSPHRASE"])
    await storage.open()
    key = await log_in(storage)
    await storage.update_peers([(42, 4242, "user", "alice", None)])
    await storage.save()
    enc = await storage.export_session_string()
    plain = await storage.export_plain_session_string()
    await storage.close()

    assert enc.startswith(ENCRYPTED_PREFIX)
    assert decode_session_string(plain).auth_key == key
    assert decrypt_session_string(enc, passphrase=PW) == plain

    # The inner storage never holds the key; everything else is there in the clear.
    inner = INNERS[kind](workdir, server)
    inner.expects_envelopes = True  # read the envelope itself (bare, vault's refuse it)
    await inner.open()
    assert await inner.auth_key() not in (None, key)
    assert (await inner.dc_id(), await inner.user_id()) == (4, 777000)
    await inner.close()

    again = encrypted(INNERS[kind](workdir, server))
    await again.open()
    assert await again.auth_key() == key
    assert (await again.get_peer_by_id(42)) is not None
    await again.close()

    pw = PW
    ci = encrypted(MemoryStorage(":memory:"), passphrase=pw, session_string=enc)
    await ci.open()
    assert await ci.auth_key() == key
    assert await ci.user_id() == 777000
    assert await ci.export_plain_session_string() == plain
    await ci.close()


async def test_memory_storage_round_trip_through_encrypted_string() -> None:
    first = encrypted(MemoryStorage(), key=RAW_KEY, passphrase=None)
    await first.open()
    key = await log_in(first)
    enc = await first.export_session_string()
    await first.close()

    second = encrypted(MemoryStorage(), key=RAW_KEY, passphrase=None, session_string=enc)
    await second.open()
    assert await second.auth_key() == key
    await second.close()


async def test_default_kdf_profile_once() -> None:
    storage = EncryptedStorage(MemoryStorage(), passphrase=PW)
    await storage.open()
    key = await log_in(storage)
    enc = await storage.export_session_string()
    (slot,) = storage.key_slots
    await storage.close()
    assert isinstance(slot, PassphraseSlot)
    assert slot.kdf == DEFAULT_KDF == KdfParams(time_cost=3, memory_cost=65536, parallelism=4)
    assert decode_session_string(decrypt_session_string(enc, passphrase=PW)).auth_key == key


async def test_passphrase_may_be_bytes_or_a_callable_read_once_at_open(workdir: Path) -> None:
    key = await make_session(workdir, passphrase=PW.encode())
    calls: list[int] = []

    def ask() -> str:
        calls.append(1)
        return PW

    storage = encrypted(FileStorage("my_account", workdir=workdir), passphrase=ask)
    assert calls == []
    await storage.open()
    assert await storage.auth_key() == key
    assert await storage.auth_key() == key
    await storage.close()
    assert calls == [1]


async def test_kdf_runs_once_per_open(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spy around the real Argon2id call counts derivations (it still derives for real)."""
    real, runs = vault.crypto.slots.derive_key, []

    def counting(*args: Any) -> bytearray:
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(vault.crypto.slots, "derive_key", counting)
    key = await make_session(workdir)
    assert len(runs) == 1
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    for _ in range(5):
        assert await storage.auth_key() == key
    await storage.auth_key(os.urandom(256))
    await storage.export_session_string()
    await storage.close()
    assert len(runs) == 2


# --- wrong keys and tampering leave the stored bytes unchanged -------------------------------


@pytest.mark.parametrize(
    "unlock",
    [{"passphrase": "wrong"}, {"passphrase": None, "key": RAW_KEY}],
    ids=["wrong-passphrase", "key-without-slot"],
)
async def test_wrong_key_changes_nothing(workdir: Path, unlock: dict[str, Any]) -> None:
    await make_session(workdir)
    before = session_files(session_path(workdir))
    storage = encrypted(FileStorage("my_account", workdir=workdir), **unlock)
    with pytest.raises(WrongKeyError) as caught:
        await storage.open()
    assert session_files(session_path(workdir)) == before
    assert "wrong" not in str(caught.value)
    with pytest.raises(StorageClosedError):
        await storage.dc_id()


async def test_a_failed_open_is_final_and_says_to_create_a_new_object(workdir: Path) -> None:
    """Unlike a bare storage's, a failed open() of the wrapper closed the inner storage: a
    retry, even with a passphrase callable that now answers right, is refused with a message
    saying what to do, asks for nothing and opens nothing; a new object opens."""
    key = await make_session(workdir)
    answers = iter(["wrong", PW])
    asked: list[str] = []

    def ask() -> str:
        asked.append(answer := next(answers))
        return answer

    storage = encrypted(FileStorage("my_account", workdir=workdir), passphrase=ask)
    with pytest.raises(WrongKeyError):
        await storage.open()
    assert not storage.is_open and not storage.inner.is_open
    with pytest.raises(StorageClosedError, match=r"open\(\) failed.*create new ones.*passphrase"):
        await storage.open()
    assert asked == ["wrong"] and not storage.is_open
    await storage.close()  # nothing to do, and no error
    fresh = encrypted(FileStorage("my_account", workdir=workdir), passphrase=ask)
    async with fresh:
        assert await fresh.auth_key() == key
    assert asked == ["wrong", PW]


async def test_wrong_key_changes_nothing_in_a_custom_storage() -> None:
    server: dict[str, Any] = {}
    storage = encrypted(DictStorage("s", server))
    await storage.open()
    await log_in(storage)
    await storage.close()
    before = repr(server)
    with pytest.raises(WrongKeyError):
        await encrypted(DictStorage("s", server), passphrase="nope").open()
    assert repr(server) == before


async def test_field_holding_another_type_is_corrupted() -> None:
    server: dict[str, Any] = {"s": {"auth_key": "not bytes", "dc_id": 2}}
    with pytest.raises(CorruptedError, match="holds str"):
        await encrypted(DictStorage("s", server)).open()


# --- swaps between sessions and fields --------------------------------------------------------


async def test_renamed_session_opens_with_rebind(workdir: Path) -> None:
    key = await make_session(workdir, "old")
    session_path(workdir, "old").rename(session_path(workdir, "new"))
    with pytest.raises(CorruptedError, match="rebind=True"):
        await encrypted(FileStorage("new", workdir=workdir)).open()
    storage = encrypted(FileStorage("new", workdir=workdir), rebind=True)
    await storage.open()
    assert await storage.auth_key() == key
    await storage.close()
    storage = encrypted(FileStorage("new", workdir=workdir))
    await storage.open()
    assert await storage.auth_key() == key
    await storage.close()


async def test_envelope_replaced_while_open_is_detected(workdir: Path) -> None:
    await make_session(workdir, "other")
    other_envelope = stored(workdir, "other")
    storage = encrypted(DictStorage("my_account", server := {}))
    await storage.open()
    await log_in(storage)
    server["my_account"]["auth_key"] = other_envelope
    with pytest.raises(CorruptedError):
        await storage.auth_key()
    await storage.close()


# --- plaintext sessions --------------------------------------------------------------------------


async def plain_session(workdir: Path) -> bytes:
    inner = FileStorage("my_account", workdir=workdir)
    await inner.open()
    key = await log_in(inner)
    await inner.update_peers([(i, i, "user", f"user{i}", None) for i in range(500)])
    await inner.close()
    return key


async def test_plaintext_session_is_refused_unchanged(workdir: Path) -> None:
    await plain_session(workdir)
    before = session_files(session_path(workdir))
    with pytest.raises(PlaintextSessionError, match="session-vault encrypt"):
        await encrypted(FileStorage("my_account", workdir=workdir)).open()
    assert session_files(session_path(workdir)) == before


@pytest.mark.parametrize(
    "flags", [{}, {"migrate": True}, {"rebind": True}], ids=["plain", "migrate", "rebind"]
)
async def test_a_plaintext_key_planted_in_an_encrypted_file_is_never_accepted(
    workdir: Path, flags: dict[str, Any]
) -> None:
    """An attacker with write access replaces the sealed key with their own plaintext one."""
    await make_session(workdir)
    planted = os.urandom(256)
    store_auth_key(session_path(workdir), planted)
    before = session_files(session_path(workdir))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        storage = encrypted(FileStorage("my_account", workdir=workdir), **flags)
    with pytest.raises(PlaintextSessionError, match="write access") as caught:
        await storage.open()
    assert "encrypt_plaintext" in str(caught.value)
    assert session_files(session_path(workdir)) == before


async def test_a_plaintext_key_written_while_open_is_refused(workdir: Path) -> None:
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    await log_in(storage)
    await storage.inner.auth_key(os.urandom(256))  # behind EncryptedStorage's back
    with pytest.raises(PlaintextSessionError, match="write access"):
        await storage.auth_key()
    await storage.close()


async def test_plain_session_string_is_refused_without_migrate() -> None:
    plain_storage = MemoryStorage()
    await plain_storage.open()
    await log_in(plain_storage)
    plain = await plain_storage.export_session_string()
    await plain_storage.close()
    with pytest.raises(PlaintextSessionError, match="encrypt_plaintext"):
        await encrypted(MemoryStorage(), session_string=plain).open()
    storage = await EncryptedStorage.encrypt_plaintext(
        MemoryStorage(), passphrase=PW, kdf=CHEAP_KDF, session_string=plain
    )
    assert await storage.export_plain_session_string() == plain
    await storage.close()
    # The old argument still seals a plain string the caller gives, with a warning.
    with pytest.warns(DeprecationWarning, match="encrypt_plaintext"):
        storage = encrypted(MemoryStorage(), session_string=plain, migrate=True)
    await storage.open()
    assert await storage.export_plain_session_string() == plain
    await storage.close()


async def test_migrate_leaves_no_plaintext_key_in_the_file(workdir: Path) -> None:
    key = await plain_session(workdir)
    storage = await EncryptedStorage.encrypt_plaintext(
        FileStorage("my_account", workdir=workdir), passphrase=PW, kdf=CHEAP_KDF
    )
    assert await storage.auth_key() == key
    assert (await storage.get_peer_by_id(499)) is not None
    # The WAL still exists while open: the old key must be gone from it already.
    assert_absent(key, raw_bytes(session_path(workdir)))
    await storage.close()
    assert_absent(key, raw_bytes(session_path(workdir)))
    assert stored(workdir) != key


@pytest.mark.parametrize("kind", ["plain string, encrypt_plaintext", "encrypted string"])
async def test_string_loaded_over_a_plaintext_file_leaves_no_old_key(
    workdir: Path, kind: str
) -> None:
    old_key = await plain_session(workdir)
    source = encrypted(MemoryStorage())
    await source.open()
    await log_in(source)
    inner = FileStorage("my_account", workdir=workdir)
    if kind == "encrypted string":
        string = await source.export_session_string()
        storage = encrypted(inner, session_string=string)
        await storage.open()
    else:
        string = await source.export_plain_session_string()
        storage = await EncryptedStorage.encrypt_plaintext(
            inner, passphrase=PW, kdf=CHEAP_KDF, session_string=string
        )
    await source.close()
    # Still open, WAL in place: the replaced plaintext key must be gone already.
    assert_absent(old_key, raw_bytes(session_path(workdir)))
    assert await storage.auth_key() != old_key
    await storage.close()
    assert_absent(old_key, raw_bytes(session_path(workdir)))


def assert_absent(key: bytes, raw: bytes) -> None:
    assert len(raw) > 4096
    for form in (key, key[:32], key[-32:], key.hex().encode(), base64.b64encode(key)):
        assert form not in raw


async def test_raw_file_never_holds_the_auth_key(workdir: Path) -> None:
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    keys = [await log_in(storage)]
    for _ in range(3):  # Pyrogram writes a new key after a DC migration
        keys.append(os.urandom(256))
        await storage.auth_key(keys[-1])
    for key in keys:
        assert_absent(key, raw_bytes(session_path(workdir)))
    plain = await storage.export_plain_session_string()
    await storage.close()
    raw = raw_bytes(session_path(workdir))
    for key in keys:
        assert_absent(key, raw)
    assert plain.encode() not in raw


# --- key slots -----------------------------------------------------------------------------------


async def test_slot_changes_rotate_the_data_key(workdir: Path) -> None:
    key = await make_session(workdir)
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    await storage.add_key(RAW_KEY)
    raw_slot = storage.key_slots[1]
    before = data_key(parse(await storage.inner.auth_key(), Purpose.AUTH_KEY).header, key=RAW_KEY)
    await storage.change_passphrase("new passphrase")
    assert storage.key_slots[1] != raw_slot  # the raw-key slot re-wrapped a fresh data key
    after = data_key(parse(await storage.inner.auth_key(), Purpose.AUTH_KEY).header, key=RAW_KEY)
    assert after != before
    assert [type(s) for s in storage.key_slots] == [PassphraseSlot, RawKeySlot]
    await storage.close()

    with pytest.raises(WrongKeyError):
        await encrypted(FileStorage("my_account", workdir=workdir)).open()
    for unlock in ({"passphrase": "new passphrase"}, {"passphrase": None, "key": RAW_KEY}):
        storage = encrypted(FileStorage("my_account", workdir=workdir), **unlock)
        await storage.open()
        assert await storage.auth_key() == key
        await storage.close()


async def test_remove_slots_but_never_the_last(workdir: Path) -> None:
    key = await make_session(workdir, key=RAW_KEY)
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    await storage.remove_key(RAW_KEY)
    with pytest.raises(KeySlotError, match="last key slot"):
        await storage.remove_slot(0)
    with pytest.raises(KeySlotError):
        await storage.remove_key(RAW_KEY)
    with pytest.raises(KeySlotError):
        await storage.remove_slot(5)
    await storage.close()
    with pytest.raises(WrongKeyError):
        await encrypted(
            FileStorage("my_account", workdir=workdir), passphrase=None, key=RAW_KEY
        ).open()
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    assert await storage.auth_key() == key
    await storage.close()


async def test_add_passphrase_and_change_the_one_used(workdir: Path) -> None:
    key = await make_session(workdir)
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    await storage.add_passphrase("second")
    await storage.close()

    storage = encrypted(FileStorage("my_account", workdir=workdir), passphrase="second")
    await storage.open()
    before = await storage.inner.auth_key()
    # Slot 0 (PW) must be re-wrapped under the new data key: vault needs its passphrase.
    with pytest.raises(KeySlotError, match=r"slot\(s\) 0 \(passphrase\)"):
        await storage.change_passphrase("third")
    assert await storage.inner.auth_key() == before
    assert await storage.slots.cover(passphrase=PW) == (0,)
    await storage.change_passphrase("third")
    await storage.close()
    for pw, works in ((PW, True), ("second", False), ("third", True)):
        storage = encrypted(FileStorage("my_account", workdir=workdir), passphrase=pw)
        if works:
            await storage.open()
            assert await storage.auth_key() == key
            await storage.close()
        else:
            with pytest.raises(WrongKeyError):
                await storage.open()


async def test_needs_rekey_then_upgrade(workdir: Path) -> None:
    await make_session(workdir)
    stronger = KdfParams(time_cost=2, memory_cost=64, parallelism=1, allow_weak=True)
    storage = EncryptedStorage(
        FileStorage("my_account", workdir=workdir), passphrase=PW, kdf=stronger
    )
    await storage.open()
    assert storage.needs_rekey()
    await storage.change_passphrase(PW)
    assert not storage.needs_rekey()
    await storage.close()
    storage = EncryptedStorage(
        FileStorage("my_account", workdir=workdir), passphrase=PW, kdf=stronger
    )
    await storage.open()
    assert not storage.needs_rekey()
    await storage.close()


async def test_slot_changes_before_login_apply_to_the_first_key() -> None:
    storage = encrypted(MemoryStorage())
    await storage.open()
    await storage.add_key(RAW_KEY)
    await log_in(storage)
    enc = await storage.export_session_string()
    await storage.close()
    assert decrypt_session_string(enc, key=RAW_KEY) == decrypt_session_string(enc, passphrase=PW)


# --- memory hygiene and leaks --------------------------------------------------------------------


async def test_close_wipes_the_data_key() -> None:
    storage = encrypted(MemoryStorage(), key=RAW_KEY)
    await storage.open()
    await log_in(storage)
    assert storage._sealed is not None
    dek = storage._sealed.sealer.keyset._dek
    assert any(dek)
    await storage.close()
    assert dek == bytearray(32)
    assert storage._sealed is None and storage._args._key is None
    with pytest.raises(StorageClosedError):
        await storage.auth_key()
    with pytest.raises(StorageClosedError):
        await storage.open()


async def test_no_secret_in_repr_logs_or_errors(
    workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    storage = encrypted(FileStorage("my_account", workdir=workdir), key=RAW_KEY)
    await storage.open()
    key = await log_in(storage)
    plain = await storage.export_plain_session_string()
    enc = await storage.export_session_string()
    await storage.add_passphrase("another secret")
    shown += [repr(storage), str(storage), repr(storage.key_slots), repr(storage.slots)]
    await storage.close()
    for attempt in (
        lambda: encrypted(FileStorage("my_account", workdir=workdir), passphrase="typo").open(),
        lambda: encrypted(MemoryStorage(), passphrase="typo", session_string=enc).open(),
    ):
        with pytest.raises(WrongKeyError) as caught:
            await attempt()
        error = caught.value
        shown += traceback.format_exception(type(error), error, error.__traceback__)
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    with pytest.raises(CorruptedError) as corrupted:
        decrypt_session_string(enc[:-8], passphrase=PW)
    shown.append(str(corrupted.value))
    shown += [record.getMessage() for record in caplog.records]
    text = "\n".join(shown)
    secrets = [PW, "another secret", "typo", plain, enc, key.hex(), RAW_KEY.hex()]
    secrets += [base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()[:40]]
    for secret in secrets:
        assert secret not in text
    assert "my_account" in text


async def test_passphrase_change_leaves_no_copy_of_the_old_slot(workdir: Path) -> None:
    """After a passphrase change, the old slot (which the old passphrase still opens) must not
    survive in the file or its write-ahead log while the storage stays open."""
    await make_session(workdir)
    old_slot = parse_slot(stored(workdir))
    storage = encrypted(FileStorage("my_account", workdir=workdir))
    await storage.open()
    try:
        await storage.change_passphrase("a brand new passphrase")
        raw = raw_bytes(session_path(workdir))
        assert old_slot.salt not in raw
        assert old_slot.wrapped not in raw
    finally:
        await storage.close()


def parse_slot(stored: bytes) -> PassphraseSlot:
    slot = parse(stored, Purpose.AUTH_KEY).header.slots[0]
    assert isinstance(slot, PassphraseSlot)
    return slot
