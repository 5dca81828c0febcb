"""AuthKeySealer on its own: seal, open, binding, plaintext refusal, cache wiping. No storage."""

from __future__ import annotations

import hashlib
import os

import pytest

from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Header, Purpose, parse, seal
from vault.crypto.identity import SessionIdentity
from vault.crypto.keyset import Keyset
from vault.crypto.sealer import AuthKeySealer, binding_for, is_plain_auth_key
from vault.crypto.slots import Credentials
from vault.errors import CorruptedError, PlaintextSessionError

AUTH_KEY = os.urandom(256)


def sealer(name: str = "alice") -> AuthKeySealer:
    return AuthKeySealer(Keyset.create(Credentials(raw_key=bytearray(32)), CHEAP_KDF), name)


def test_seal_then_open_gives_the_key_back_and_the_envelope_hides_it() -> None:
    s = sealer()
    stored = s.seal(AUTH_KEY)
    assert AUTH_KEY not in stored and len(stored) > 256 and not is_plain_auth_key(stored)
    s.forget()  # not from the cache: decrypted for real
    assert s.open(stored) == AUTH_KEY
    assert s.open(bytearray(stored)) == AUTH_KEY  # any bytes-like value a driver returns


def test_a_plaintext_key_is_refused_and_the_error_names_the_danger() -> None:
    with pytest.raises(PlaintextSessionError, match="write access") as caught:
        sealer().open(AUTH_KEY)
    assert AUTH_KEY.hex() not in str(caught.value)


def test_an_envelope_of_another_session_is_refused_unless_rebinding() -> None:
    alice = sealer("alice")
    bob = AuthKeySealer(alice.keyset, "bob")
    stored = alice.seal(AUTH_KEY)
    with pytest.raises(CorruptedError, match="another session"):
        bob.open(stored)
    assert bob.needs_rebind(stored) and not alice.needs_rebind(stored)
    assert bob.open(stored, rebind=True) == AUTH_KEY
    assert not bob.needs_rebind(bob.seal(AUTH_KEY))


@pytest.mark.parametrize("value", [b"", b"x" * 300, 256, "text"], ids=repr)
def test_damaged_or_wrong_typed_values_are_corrupted(value: object) -> None:
    with pytest.raises(CorruptedError):
        sealer().open(value)


def test_a_flipped_payload_byte_fails_authentication() -> None:
    s = sealer()
    body = bytearray(s.seal(AUTH_KEY)[:-16])
    body[-20] ^= 1  # in the ciphertext; the checksum is recomputed so only the tag can tell
    s.forget()
    with pytest.raises(CorruptedError, match="failed authentication"):
        s.open(bytes(body) + hashlib.sha256(body).digest()[:16])


def test_the_plaintext_cache_is_wiped_on_forget_and_close() -> None:
    s = sealer()
    s.open(s.seal(AUTH_KEY))
    cached = s._plain  # white-box: the bytearray holding the decrypted key
    assert cached == AUTH_KEY
    s.forget()
    assert not any(cached)
    s.open(s.seal(AUTH_KEY))
    cached, dek = s._plain, s.keyset._dek
    s.close()
    assert not any(cached) and not any(dek)
    with pytest.raises(CorruptedError, match="wiped"):
        s.seal(AUTH_KEY)


def test_long_names_are_bound_by_their_hash() -> None:
    assert binding_for("a") == b"a"
    long = binding_for("x" * 300)
    assert long.startswith(b"sha256:") and len(long) <= 255


def test_seal_refuses_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="256 bytes"):
        sealer().seal(b"short")


def test_an_envelope_sealed_for_another_identity_is_refused_unless_rebinding() -> None:
    s = sealer()
    s.identity = SessionIdentity(dc_id=4, test_mode=False, user_id=777000)
    stored = s.seal(AUTH_KEY)
    moved = SessionIdentity(dc_id=1, test_mode=False, user_id=777000)
    with pytest.raises(CorruptedError, match="dc_id is 1 but the key was sealed for 4"):
        s.open(stored, identity=moved)
    assert s.identity.dc_id == 4  # a refused identity is not adopted
    assert s.open(stored) == AUTH_KEY and not s.needs_rebind(stored)
    s.identity = moved
    assert s.needs_rebind(stored)
    assert s.open(stored, rebind=True) == AUTH_KEY


def test_a_version_1_envelope_binds_no_identity_and_asks_to_be_sealed_anew() -> None:
    s = sealer()
    header = Header(s.keyset.vault_id, s.binding, s.keyset.slots, version=1)
    stored = seal(header, s.keyset._live_dek(), Purpose.AUTH_KEY, AUTH_KEY)
    s.identity = SessionIdentity(dc_id=2, test_mode=True, user_id=5)
    assert s.open(stored, identity=SessionIdentity(dc_id=3)) == AUTH_KEY
    assert s.needs_rebind(stored)
    assert parse(s.seal(AUTH_KEY), Purpose.AUTH_KEY).header.version == 2
