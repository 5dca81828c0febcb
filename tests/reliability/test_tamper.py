"""Tampering: every single-byte change and every truncation of an envelope and of an encrypted
session string is detected; envelopes swapped between sessions or fields are refused; a header
asking for absurd Argon2 costs fails fast."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vault import EncryptedStorage, decrypt_session_string, encrypt_session_string
from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Envelope, Purpose, parse
from vault.crypto.keyset import Keyset
from vault.crypto.slots import Credentials
from vault.errors import (
    CorruptedError,
    InvalidSessionString,
    PlaintextSessionError,
    WrongKeyError,
)
from vault.session_string import ENCRYPTED_PREFIX, SessionData, encode_session_string
from vault.storage import FileStorage

from ._support import ROOT, Tally, scaled, session_files
from ._tampering import (
    KEY,
    PASSPHRASE,
    encrypted,
    make_session,
    passphrase_costs_offset,
    store_auth_key,
    stored_auth_key,
    with_check,
)

AUTH_KEY = os.urandom(256)
PLAIN = encode_session_string(SessionData(2, 611335, False, AUTH_KEY, 123456789, False))
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
DETECTED = (CorruptedError, WrongKeyError, InvalidSessionString, PlaintextSessionError)


def _opens(data: bytes, purpose: Purpose, creds: Credentials) -> bytes:
    """Parse, unlock and open ``data`` the way EncryptedStorage does; raise if anything fails."""
    envelope: Envelope = parse(data, purpose)
    keyset = Keyset.unlock(envelope.header, creds)
    try:
        return keyset.open(envelope, purpose)
    finally:
        keyset.wipe()


def _variants(envelope: bytes) -> dict[str, list[bytes]]:
    """Every single-byte flip, every flip with the check recomputed, every truncation."""
    body_size = len(envelope) - 16
    flips = []
    for at in range(len(envelope)):
        changed = bytearray(envelope)
        changed[at] ^= 1 << (at % 8)
        flips.append(bytes(changed))
    return {
        "flip": flips,
        "flip_rechecked": [with_check(flipped[:body_size]) for flipped in flips[:body_size]],
        "truncate": [envelope[:size] for size in range(len(envelope))],
    }


async def test_every_byte_of_an_auth_key_envelope_is_protected(
    tmp_path: Path, tally: Tally, dict_keyring: object
) -> None:
    """In memory, all positions, against each of the three slots (passphrase, keyring and
    raw key)."""
    database = await make_session("victim", tmp_path, AUTH_KEY, key=KEY, keyring=True)
    envelope = stored_auth_key(database)
    assert envelope is not None
    unlockers: dict[str, Callable[[], Credentials]] = {
        "passphrase": lambda: Credentials(passphrase=bytearray(PASSPHRASE.encode())),
        "keyring": lambda: Credentials(keyring=True),
        "raw key": lambda: Credentials(raw_key=bytearray(KEY)),
    }
    for creds in unlockers.values():
        assert _opens(envelope, Purpose.AUTH_KEY, creds()) == AUTH_KEY
    counts: dict[str, int] = {}
    for mode, variants in _variants(envelope).items():
        for variant in variants:
            for name, creds in unlockers.items():
                with pytest.raises((CorruptedError, WrongKeyError)):
                    _opens(variant, Purpose.AUTH_KEY, creds())
                    pytest.fail(f"{mode} of the envelope went unnoticed with the {name}")
        counts[mode] = len(variants)
    tally.record("tamper_auth_key_envelope", envelope_bytes=len(envelope), **counts)
    assert counts["flip"] == len(envelope)


@scaled(normal=23, stress=1)
async def test_tampered_auth_key_in_a_file_is_refused_and_left_alone(
    tmp_path: Path, tally: Tally, count: int
) -> None:
    """Through EncryptedStorage on a real file: every ``count``-th variant (every one under
    ``-m stress``) is written into the session, which must refuse to open and stay unchanged."""
    database = await make_session("victim", tmp_path, AUTH_KEY)
    envelope = stored_auth_key(database)
    assert envelope is not None
    tried = 0
    for mode, variants in _variants(envelope).items():
        for variant in variants[::count]:
            store_auth_key(database, variant)
            before = session_files(database)
            storage = encrypted("victim", tmp_path)
            try:
                with pytest.raises(DETECTED):
                    await storage.open()
                    pytest.fail(f"a {mode} variant of the stored envelope opened")
            finally:
                await storage.close()
            assert session_files(database) == before
            assert stored_auth_key(database) == variant
            tried += 1
    # The untouched envelope still opens: the refusals were about the changes.
    store_auth_key(database, envelope)
    storage = encrypted("victim", tmp_path)
    await storage.open()
    assert await storage.auth_key() == AUTH_KEY
    await storage.close()
    tally.record("tamper_auth_key_on_file", variants=tried)


def test_every_character_of_an_encrypted_string_is_protected(tally: Tally) -> None:
    text = encrypt_session_string(PLAIN, passphrase=PASSPHRASE, key=KEY, kdf=CHEAP_KDF)
    assert decrypt_session_string(text, key=KEY) == PLAIN
    body_start = len(ENCRYPTED_PREFIX)
    changed = [
        text[:at] + B64[(B64.index(text[at]) + 1) % 64] + text[at + 1 :]
        for at in range(body_start, len(text))
    ]
    changed += [text[:at] + "~" + text[at + 1 :] for at in range(body_start)]
    truncated = [text[:size] for size in range(len(text))]
    for variant in changed + truncated:
        for creds in ({"key": KEY}, {"passphrase": PASSPHRASE}):
            with pytest.raises((InvalidSessionString, CorruptedError, WrongKeyError)):
                decrypt_session_string(variant, **creds)
                pytest.fail("a changed encrypted session string decrypted")
    # Forged at the byte level with a correct check, as a careful attacker would.
    raw = base64.urlsafe_b64decode(text[body_start:] + "==")
    forged = [
        ENCRYPTED_PREFIX + base64.urlsafe_b64encode(v).decode().rstrip("=")
        for v in _variants(raw)["flip_rechecked"]
    ]
    for variant in forged:
        with pytest.raises((CorruptedError, WrongKeyError)):
            decrypt_session_string(variant, key=KEY)
    tally.record(
        "tamper_encrypted_string",
        characters_changed=len(changed),
        truncations=len(truncated),
        bytes_forged_with_check=len(forged),
    )


async def test_envelope_swapped_between_sessions_is_refused(tmp_path: Path) -> None:
    alice = await make_session("alice", tmp_path, AUTH_KEY)
    bob = await make_session("bob", tmp_path, os.urandom(256))
    # Same passphrase, same workdir: only the binding to the session name tells them apart.
    store_auth_key(bob, stored_auth_key(alice) or b"")
    before = session_files(bob)
    with pytest.raises(CorruptedError, match="another session"):
        await encrypted("bob", tmp_path).open()
    assert session_files(bob) == before
    # The same name elsewhere with another passphrase: another vault, so nothing unlocks.
    other = tmp_path / "other"
    twin = await make_session("alice", other, os.urandom(256), passphrase="different")
    store_auth_key(twin, stored_auth_key(alice) or b"")
    with pytest.raises(WrongKeyError):
        await encrypted("alice", other, passphrase="different").open()


async def test_envelope_swapped_between_fields_is_refused(tmp_path: Path) -> None:
    database = await make_session("fields", tmp_path, AUTH_KEY, key=KEY)
    auth_key_envelope = stored_auth_key(database) or b""
    as_string = ENCRYPTED_PREFIX + base64.urlsafe_b64encode(auth_key_envelope).decode().rstrip("=")
    with pytest.raises(CorruptedError):
        decrypt_session_string(as_string, key=KEY)
    text = encrypt_session_string(PLAIN, key=KEY, kdf=CHEAP_KDF)
    string_envelope = base64.urlsafe_b64decode(text[len(ENCRYPTED_PREFIX) :] + "==")
    store_auth_key(database, string_envelope)
    with pytest.raises(CorruptedError):
        await encrypted("fields", tmp_path, key=KEY).open()


# A child with a 1 GiB address space opens each forged session and prints what happened, so a
# missing cap fails the test instead of taking the machine's memory.
_OPEN_ALL = """
import asyncio, os, resource, sys
from vault import EncryptedStorage
from vault.storage import FileStorage

resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

async def main():
    for name in sys.argv[2:]:
        inner = FileStorage(name, workdir=sys.argv[1])
        storage = EncryptedStorage(inner, passphrase=os.environ["PW"])
        try:
            await storage.open()
        except Exception as error:
            print(name, type(error).__name__, flush=True)
        else:
            print(name, "opened", flush=True)
            await storage.close()

asyncio.run(main())
"""

HOSTILE_COSTS = {
    "memory_64gib": (1, 64 * 1024 * 1024, 1),
    "memory_over_cap": (1, 2 * 1024 * 1024 + 1, 1),
    "time_max_u32": (2**32 - 1, 8, 1),
    "lanes_2_24": (1, 2**31, 2**24),
    "all_zero": (0, 0, 0),
}


async def test_hostile_argon2_costs_fail_fast(tmp_path: Path, tally: Tally) -> None:
    names = []
    for name, costs in HOSTILE_COSTS.items():
        database = await make_session(name, tmp_path, AUTH_KEY)
        envelope = bytearray(stored_auth_key(database) or b"")
        at = passphrase_costs_offset(bytes(envelope))
        for index, value in enumerate(costs):
            envelope[at + 4 * index : at + 4 * index + 4] = value.to_bytes(4, "big")
        store_auth_key(database, with_check(bytes(envelope[:-16])))
        names.append(name)
    child = subprocess.run(
        [sys.executable, "-c", _OPEN_ALL, str(tmp_path), *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PW": PASSPHRASE},
        check=False,
    )
    outcome = dict(line.split() for line in child.stdout.splitlines())
    assert outcome == dict.fromkeys(names, "CorruptedError"), child.stderr
    tally.record("argon2_cap_refusals", forged_headers=len(names))


async def test_envelope_cut_to_auth_key_size_is_not_migrated(tmp_path: Path) -> None:
    database = await make_session("s", tmp_path, AUTH_KEY)
    envelope = stored_auth_key(database) or b""
    store_auth_key(database, envelope[:256])
    before = session_files(database)
    inner = FileStorage("s", workdir=tmp_path)
    with pytest.raises(CorruptedError):
        await EncryptedStorage.encrypt_plaintext(inner, passphrase="pw", kdf=CHEAP_KDF)
    assert session_files(database) == before
