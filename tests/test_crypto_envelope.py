"""The envelope format and its parts, without storages: strict parsing, every byte flipped and
every length truncated, caps checked before any KDF runs, slot changes, AEAD misuse."""

from __future__ import annotations

import base64
import struct

import pytest

from vault import decrypt_session_string, encrypt_session_string
from vault.crypto import CHEAP_KDF, KdfParams, keyring_slot
from vault.crypto import kdf as kdf_module
from vault.crypto.aead import Aead
from vault.crypto.envelope import MAX_SLOTS, Purpose, classify_auth_key, parse
from vault.crypto.keyset import Keyset
from vault.crypto.slots import Credentials, PassphraseSlot, RawKeySlot
from vault.crypto.strings import parse_encrypted_string
from vault.errors import (
    CorruptedError,
    InvalidSessionString,
    KdfBudgetError,
    KeySlotError,
    UnsupportedFormatError,
    WrongKeyError,
)
from vault.session_string import ENCRYPTED_PREFIX, SessionData, encode_session_string

from .tampering import CHECK_SIZE, slot_count_offset, variants, with_check

PASSPHRASE = "pw"
RAW_KEY = bytes(range(32))
AUTH_KEY = bytes(range(256))
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PLAIN = encode_session_string(SessionData(2, 12345, False, AUTH_KEY, 42, False))


def keyset(**kwargs: object) -> Keyset:
    return Keyset.create(Credentials.from_args(**kwargs), CHEAP_KDF)  # type: ignore[arg-type]


#: The three slot kinds, each unlocking the same envelope (the keyring: ``dict_keyring``).
UNLOCKERS = {
    "passphrase": {"passphrase": PASSPHRASE},
    "keyring": {"keyring": True},
    "raw key": {"key": RAW_KEY},
}


def open_with(data: bytes, **unlock: object) -> bytes:
    envelope = parse(data, Purpose.AUTH_KEY)
    unlocked = Keyset.unlock(envelope.header, Credentials.from_args(**unlock))  # type: ignore[arg-type]
    try:
        return unlocked.open(envelope, Purpose.AUTH_KEY)
    finally:
        unlocked.wipe()


def open_with_key(data: bytes) -> bytes:
    return open_with(data, key=RAW_KEY)


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return keyset(key=RAW_KEY).seal(Purpose.AUTH_KEY, b"name", AUTH_KEY)


@pytest.fixture
def sealed_three_slots(dict_keyring: object) -> bytes:
    """An envelope with a passphrase, a keyring and a raw key slot."""
    three = keyset(passphrase=PASSPHRASE, keyring=True, key=RAW_KEY)
    for service, kek in three.pending_keyring:  # what EncryptedStorage does on first save
        keyring_slot.store_secret(service, three.vault_id, kek)
    return three.seal(Purpose.AUTH_KEY, b"victim", AUTH_KEY)


def test_round_trip(sealed: bytes) -> None:
    assert open_with_key(sealed) == AUTH_KEY


@pytest.mark.parametrize("slot", sorted(UNLOCKERS))
def test_every_changed_byte_and_every_truncation_is_detected(
    sealed_three_slots: bytes, slot: str
) -> None:
    """Every byte flipped, every byte flipped with the (unkeyed) check recomputed as an
    attacker can, every truncation: refused, whichever slot is used to unlock (a cost raised
    over the unlock's budget: refused before the KDF runs)."""
    envelope, unlock = sealed_three_slots, UNLOCKERS[slot]
    assert open_with(envelope, **unlock) == AUTH_KEY
    for mode, changed_envelopes in variants(envelope).items():
        for variant in changed_envelopes:
            with pytest.raises((CorruptedError, WrongKeyError, KdfBudgetError)):
                open_with(variant, **unlock)
                pytest.fail(f"a {mode} of the envelope went unnoticed with the {slot}")


def test_unknown_version_is_named(sealed: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="version 7"):
        parse(sealed[:4] + b"\x07" + sealed[5:], Purpose.AUTH_KEY)


def test_non_bytes_are_corrupted() -> None:
    with pytest.raises(CorruptedError, match="got str"):
        parse("SVLT", Purpose.AUTH_KEY)  # type: ignore[arg-type]


def test_stored_auth_keys_are_classified_by_the_magic_first(sealed: bytes) -> None:
    assert classify_auth_key(None) == "empty"
    assert classify_auth_key(AUTH_KEY) == classify_auth_key(bytearray(AUTH_KEY)) == "plaintext"
    assert classify_auth_key(sealed) == classify_auth_key(memoryview(sealed)) == "sealed"
    # Cut to an auth key's size, an envelope is still one (parse refuses it), never plaintext.
    assert classify_auth_key(sealed[:256]) == "sealed"
    with pytest.raises(CorruptedError):
        parse(sealed[:256], Purpose.AUTH_KEY)
    for damaged in (b"", AUTH_KEY[:255], AUTH_KEY + b"x", "x" * 256, 256, [0] * 256):
        assert classify_auth_key(damaged) == "damaged", damaged


def test_wrong_purpose_is_detected(sealed: bytes) -> None:
    with pytest.raises(CorruptedError, match="wrong size"):
        parse(sealed, Purpose.SESSION_STRING)


def slot_kdf_offset(data: bytes) -> int:
    return slot_count_offset(data) + 1 + 3 + 16


@pytest.mark.parametrize(
    ("field", "value"),
    [(0, 0), (0, 17), (4, 64 * 1024 * 1024), (4, 2**32 - 1), (4, 7), (8, 0), (8, 17)],
)
def test_kdf_caps_refuse_before_running(
    field: int, value: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2id is replaced by a tripwire: parsing must refuse before it could be called."""
    data = keyset(passphrase="pw").seal(Purpose.AUTH_KEY, b"", AUTH_KEY)
    at = slot_kdf_offset(data) + field
    tampered = with_check(data[:at] + struct.pack(">I", value) + data[at + 4 : -CHECK_SIZE])

    def tripwire(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2id ran on parameters from a tampered header")

    monkeypatch.setattr(kdf_module, "hash_secret_raw", tripwire)
    with pytest.raises(CorruptedError, match="passphrase slot asks for"):
        parse(tampered, Purpose.AUTH_KEY)


def test_params_are_validated_on_creation() -> None:
    with pytest.raises(ValueError, match="memory_cost"):
        KdfParams(time_cost=1, memory_cost=64 * 1024 * 1024, parallelism=1)
    with pytest.raises(ValueError, match="parallelism"):
        KdfParams(time_cost=1, memory_cost=64, parallelism=0)


def test_slot_count_is_capped() -> None:
    ks = keyset(key=RAW_KEY)
    for i in range(1, MAX_SLOTS):
        ks.add_raw_key(bytes([i]) * 32)
    with pytest.raises(KeySlotError, match="at most 8"):
        ks.add_raw_key(b"\xff" * 32)


def test_changing_slots_keeps_the_data_key() -> None:
    ks = keyset(passphrase="one")
    first = ks.seal(Purpose.AUTH_KEY, b"", AUTH_KEY)
    ks.add_raw_key(RAW_KEY)
    ks.replace_passphrase(0, bytearray(b"two"), CHEAP_KDF)
    second = ks.seal(Purpose.AUTH_KEY, b"", AUTH_KEY)
    # the old envelope still opens with the DEK unlocked through the new slots
    unlocked = Keyset.unlock(
        parse(second, Purpose.AUTH_KEY).header, Credentials.from_args(passphrase="two")
    )
    assert unlocked.open(parse(first, Purpose.AUTH_KEY), Purpose.AUTH_KEY) == AUTH_KEY
    assert [type(s) for s in unlocked.slots] == [PassphraseSlot, RawKeySlot]
    with pytest.raises(WrongKeyError):
        Keyset.unlock(
            parse(second, Purpose.AUTH_KEY).header, Credentials.from_args(passphrase="one")
        )


def test_wiped_keyset_refuses_to_work() -> None:
    ks = keyset(key=RAW_KEY)
    ks.wipe()
    with pytest.raises(CorruptedError, match="closed"):
        ks.seal(Purpose.AUTH_KEY, b"", AUTH_KEY)


def test_aead_refuses_bad_keys_and_short_input() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Aead(bytes(16))
    with pytest.raises(CorruptedError):
        Aead(bytes(32)).decrypt(bytes(27), b"")
    sealed = Aead(bytes(32)).encrypt(b"x", b"purpose a")
    with pytest.raises(CorruptedError):
        Aead(bytes(32)).decrypt(sealed, b"purpose b")
    assert Aead(bytes(32)).encrypt(b"x", b"") != Aead(bytes(32)).encrypt(b"x", b"")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Credentials.from_args(key=bytes(31))
    with pytest.raises(ValueError, match="empty"):
        Credentials.from_args(passphrase="")
    with pytest.raises(TypeError):
        Credentials.from_args(passphrase=lambda: 42)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        Credentials.from_args(keyring=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="give a passphrase"):
        keyset()


def test_passphrases_are_nfc_normalised() -> None:
    enc = encrypt_session_string(PLAIN, passphrase="caf\u00e9", kdf=CHEAP_KDF)
    assert decrypt_session_string(enc, passphrase="cafe\u0301") == PLAIN
    assert decrypt_session_string(enc, passphrase="caf\u00e9".encode()) == PLAIN


# --- encrypted session strings -----------------------------------------------------------------


@pytest.fixture(scope="module")
def encrypted_string() -> str:
    return encrypt_session_string(PLAIN, passphrase=PASSPHRASE, key=RAW_KEY, kdf=CHEAP_KDF)


def test_string_round_trip_and_whitespace(encrypted_string: str) -> None:
    assert decrypt_session_string(f"  {encrypted_string}\n", key=RAW_KEY) == PLAIN


def test_every_changed_character_and_truncation_is_detected(encrypted_string: str) -> None:
    """Every character changed, every truncation, and every byte of the envelope forged with
    the check recomputed: refused, with the raw key and with the passphrase."""
    text = encrypted_string
    body_start = len(ENCRYPTED_PREFIX)
    changed = [
        text[:at] + B64[(B64.index(text[at]) + 1) % 64] + text[at + 1 :]
        for at in range(body_start, len(text))
    ]
    changed += [text[:at] + "~" + text[at + 1 :] for at in range(body_start)]
    truncated = [text[:size] for size in range(len(text))]
    for variant in changed + truncated:
        for creds in ({"key": RAW_KEY}, {"passphrase": PASSPHRASE}):
            with pytest.raises((InvalidSessionString, CorruptedError, WrongKeyError)):
                decrypt_session_string(variant, **creds)  # type: ignore[arg-type]
                pytest.fail("a changed encrypted session string decrypted")
    raw = base64.urlsafe_b64decode(text[body_start:] + "==")
    for at in range(len(raw) - CHECK_SIZE):
        forged = bytearray(raw[:-CHECK_SIZE])
        forged[at] ^= 1 << (at % 8)
        variant = ENCRYPTED_PREFIX + base64.urlsafe_b64encode(with_check(forged)).decode()
        with pytest.raises((CorruptedError, WrongKeyError)):
            decrypt_session_string(variant.rstrip("="), key=RAW_KEY)


@pytest.mark.parametrize("suffix", ["=", "==", "A", "AA", "!", "\u00e9"])
def test_non_canonical_or_foreign_text_is_rejected(encrypted_string: str, suffix: str) -> None:
    with pytest.raises(CorruptedError):
        parse_encrypted_string(encrypted_string + suffix)


def test_plain_strings_and_other_text_are_not_encrypted_strings() -> None:
    for text in (PLAIN, "", "vault2:abc", "VAULT1:abc"):
        with pytest.raises(InvalidSessionString):
            decrypt_session_string(text, key=RAW_KEY)


def test_encrypting_needs_a_valid_plain_string() -> None:
    with pytest.raises(InvalidSessionString):
        encrypt_session_string("not a session", key=RAW_KEY)
    with pytest.raises(InvalidSessionString):
        encrypt_session_string(encrypt_session_string(PLAIN, key=RAW_KEY), key=RAW_KEY)
