"""Tampering with real session files: every single-byte change and every truncation of the
stored envelope is refused and leaves the file alone; envelopes swapped between sessions or
fields are refused; a header asking for absurd Argon2 costs fails fast. (The same changes to an
envelope or encrypted string in memory: ``tests/test_crypto_envelope.py``.)"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault import EncryptedStorage, decrypt_session_string, encrypt_session_string
from vault.crypto import CHEAP_KDF
from vault.errors import (
    CorruptedError,
    InvalidSessionString,
    PlaintextSessionError,
    WrongKeyError,
)
from vault.session_string import ENCRYPTED_PREFIX, SessionData, encode_session_string
from vault.storage import FileStorage

from ..tampering import (
    PASSPHRASE,
    encrypted_file,
    make_session,
    passphrase_costs_offset,
    session_files,
    session_path,
    store_auth_key,
    stored_auth_key,
    variants,
    with_check,
)
from ._support import ROOT, Tally, scaled

KEY = bytes(range(100, 132))
AUTH_KEY = os.urandom(256)
PLAIN = encode_session_string(SessionData(2, 611335, False, AUTH_KEY, 123456789, False))
DETECTED = (CorruptedError, WrongKeyError, InvalidSessionString, PlaintextSessionError)


@scaled(normal=23, stress=1)
async def test_tampered_auth_key_in_a_file_is_refused_and_left_alone(
    tmp_path: Path, tally: Tally, count: int
) -> None:
    """Through EncryptedStorage on a real file: every ``count``-th variant (every one under
    ``-m stress``) is written into the session, which must refuse to open and stay unchanged."""
    await make_session(tmp_path, "victim", auth_key=AUTH_KEY)
    database = session_path(tmp_path, "victim")
    envelope = stored_auth_key(database)
    assert envelope is not None
    tried = 0
    for mode, changed in variants(envelope).items():
        for variant in changed[::count]:
            store_auth_key(database, variant)
            before = session_files(database)
            storage = encrypted_file(tmp_path, "victim")
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
    storage = encrypted_file(tmp_path, "victim")
    await storage.open()
    assert await storage.auth_key() == AUTH_KEY
    await storage.close()
    tally.record("tamper_auth_key_on_file", variants=tried)


async def test_envelope_swapped_between_sessions_is_refused(tmp_path: Path) -> None:
    await make_session(tmp_path, "alice", auth_key=AUTH_KEY)
    alice = session_path(tmp_path, "alice")
    await make_session(tmp_path, "bob", auth_key=os.urandom(256))
    bob = session_path(tmp_path, "bob")
    # Same passphrase, same workdir: only the binding to the session name tells them apart.
    store_auth_key(bob, stored_auth_key(alice) or b"")
    before = session_files(bob)
    with pytest.raises(CorruptedError, match="another session"):
        await encrypted_file(tmp_path, "bob").open()
    assert session_files(bob) == before
    # The same name elsewhere with another passphrase: another vault, so nothing unlocks.
    other = tmp_path / "other"
    await make_session(other, "alice", auth_key=os.urandom(256), passphrase="different")
    twin = session_path(other, "alice")
    store_auth_key(twin, stored_auth_key(alice) or b"")
    with pytest.raises(WrongKeyError):
        await encrypted_file(other, "alice", passphrase="different").open()


async def test_envelope_swapped_between_fields_is_refused(tmp_path: Path) -> None:
    await make_session(tmp_path, "fields", auth_key=AUTH_KEY, key=KEY)
    database = session_path(tmp_path, "fields")
    auth_key_envelope = stored_auth_key(database) or b""
    as_string = ENCRYPTED_PREFIX + base64.urlsafe_b64encode(auth_key_envelope).decode().rstrip("=")
    with pytest.raises(CorruptedError):
        decrypt_session_string(as_string, key=KEY)
    text = encrypt_session_string(PLAIN, key=KEY, kdf=CHEAP_KDF)
    string_envelope = base64.urlsafe_b64decode(text[len(ENCRYPTED_PREFIX) :] + "==")
    store_auth_key(database, string_envelope)
    with pytest.raises(CorruptedError):
        await encrypted_file(tmp_path, "fields", key=KEY).open()


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
        await make_session(tmp_path, name, auth_key=AUTH_KEY)
        database = session_path(tmp_path, name)
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
    await make_session(tmp_path, "s", auth_key=AUTH_KEY)
    database = session_path(tmp_path, "s")
    envelope = stored_auth_key(database) or b""
    store_auth_key(database, envelope[:256])
    before = session_files(database)
    inner = FileStorage("s", workdir=tmp_path)
    with pytest.raises(CorruptedError):
        await EncryptedStorage.encrypt_plaintext(inner, passphrase="pw", kdf=CHEAP_KDF)
    assert session_files(database) == before
