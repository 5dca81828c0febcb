"""Generate the format test vectors in this directory: ``python -m tests.vectors.generate``.

One vector per file, mostly negative cases. Each file is ``key: value`` lines, a blank line, then
the body: the envelope in hex (64 characters a line) for ``purpose: auth-key``, or the encrypted
session string for ``purpose: session-string``. Keys:

* ``expect``: ``success``, ``corrupted``, ``unsupported``, ``wrong key`` or ``invalid``;
* ``purpose``: ``auth-key`` or ``session-string``;
* ``session``: for auth keys, the session name the envelope must be bound to;
* ``passphrase`` (UTF-8 text) and/or ``key`` (hex): what the decryptor is given;
* ``keyring-service``, ``keyring-entry``, ``keyring-secret``: for a keyring slot, the entry the
  decryptor's OS keyring holds (service, username, and the text stored: base64 of the KEK);
* ``dc-id``, ``test-mode``, ``user-id``: for auth keys, the session fields stored next to the
  envelope when the reader opens it (absent: not stored); a version 2 envelope binds them;
* ``plaintext``: for ``success``, the hex of the decrypted bytes;
* ``data-key``: for ``success``, the hex of the data key that any slot unwraps;
* ``index-key``: for an auth-key payload holding one (format v2), the hex of the peer index key;
* ``index-username`` / ``index-username-token`` and ``index-phone`` / ``index-phone-token``: a
  value as a client looks it up and the blind-index token stored for it under ``index-key``;
* ``comment``.

Randomness comes from a seeded SHA-256 stream (``vault.crypto.rng._deterministic``), so running
this again gives the same bytes; ``tests/test_format_vectors.py`` checks that it does.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vault.crypto import rng
from vault.crypto.aead import Aead
from vault.crypto.envelope import CHECK_SIZE, Header, Purpose, _aad, seal
from vault.crypto.identity import IDENTITY_SIZE, NO_IDENTITY, SessionIdentity
from vault.crypto.kdf import CHEAP_KDF, DEFAULT_KDF, KdfParams
from vault.crypto.keyring_slot import DEFAULT_SERVICE as KEYRING_SERVICE
from vault.crypto.keyring_slot import entry_name
from vault.crypto.keyset import Keyset
from vault.crypto.peer_index import PeerIndex
from vault.crypto.slots import Credentials
from vault.crypto.strings import _encode
from vault.session_string import ENCRYPTED_PREFIX, SessionData, pack_session

from ..encrypted_helpers import DictKeyring, installed_keyring

HERE = Path(__file__).parent
PASSPHRASE = "correct horse battery staple"
RAW_KEY = bytes(range(32))
SESSION = "my_account"
AUTH_KEY = hashlib.sha256(b"auth key").digest() * 8
INDEX_KEY = hashlib.sha256(b"peer index key").digest()
USERNAME, PHONE = "@Alice_Bob", "+1 555 0100"
DATA = SessionData(
    dc_id=4, api_id=12345, test_mode=False, auth_key=AUTH_KEY, user_id=777000, is_bot=False
)
#: What a version 2 auth-key vector binds, and what its reader finds stored unless edited.
IDENTITY = SessionIdentity(DATA.dc_id, DATA.test_mode, DATA.user_id)


@dataclass(frozen=True)
class Vector:
    name: str
    expect: str
    purpose: str
    body: str
    comment: str
    passphrase: str | None = PASSPHRASE
    key: bytes | None = None
    session: str = SESSION
    plaintext: bytes | None = None
    data_key: bytes | None = None
    #: ``(service, secret)`` of a keyring slot's entry.
    keyring: tuple[str, bytes] | None = None
    #: The session fields stored next to an auth-key envelope.
    stored: SessionIdentity = NO_IDENTITY
    index_key: bytes | None = None

    def render(self) -> str:
        lines = [f"expect: {self.expect}", f"purpose: {self.purpose}"]
        if self.purpose == "auth-key":
            lines.append(f"session: {self.session}")
        if self.passphrase is not None:
            lines.append(f"passphrase: {self.passphrase}")
        if self.key is not None:
            lines.append(f"key: {self.key.hex()}")
        if self.keyring is not None:
            service, secret = self.keyring
            vault_id = bytes.fromhex(self.body.replace("\n", ""))[5:21]
            lines += [
                f"keyring-service: {service}",
                f"keyring-entry: {entry_name(vault_id)}",
                f"keyring-secret: {base64.b64encode(secret).decode()}",
            ]
        for label, value in (
            ("dc-id", self.stored.dc_id),
            ("test-mode", self.stored.test_mode),
            ("user-id", self.stored.user_id),
        ):
            if value is not None:
                lines.append(f"{label}: {int(value)}")
        if self.plaintext is not None:
            lines.append(f"plaintext: {self.plaintext.hex()}")
        if self.data_key is not None:
            lines.append(f"data-key: {self.data_key.hex()}")
        if self.index_key is not None:
            index = PeerIndex(self.index_key)
            lines += [
                f"index-key: {self.index_key.hex()}",
                f"index-username: {USERNAME}",
                f"index-username-token: {index.username(USERNAME)}",
                f"index-phone: {PHONE}",
                f"index-phone-token: {index.phone(PHONE)}",
            ]
        lines.append(f"comment: {self.comment}")
        return "\n".join(lines) + "\n\n" + self.body + "\n"


@dataclass(frozen=True)
class Sealed:
    """An envelope and the secrets behind it, for the vectors' ``data-key`` and keyring."""

    envelope: bytes
    data_key: bytes
    keyring_secret: bytes | None


def _seal(
    seed: str,
    purpose: Purpose,
    binding: bytes,
    plaintext: bytes,
    *,
    passphrase: bool = True,
    key: bool = False,
    keyring: bool = False,
    kdf: KdfParams = CHEAP_KDF,
    version: int = 1,
    identity: SessionIdentity = NO_IDENTITY,
    any_size: bool = False,
) -> Sealed:
    creds = Credentials.from_args(
        passphrase=PASSPHRASE if passphrase else None,
        key=RAW_KEY if key else None,
        keyring=KEYRING_SERVICE if keyring else False,
    )
    # The new slot's key is read from the keyset, not from the keyring.
    with installed_keyring(DictKeyring()), rng._deterministic(seed.encode()):
        keyset = Keyset.create(creds, kdf)
        header = Header(keyset.vault_id, binding, keyset.slots, identity, version)
        if any_size:  # a payload size the writer refuses for this version
            head = header.encode()
            body = head + Aead(keyset._live_dek()).encrypt(plaintext, _aad(purpose, head))
            envelope = recheck(body + bytes(CHECK_SIZE))
        else:
            envelope = seal(header, keyset._live_dek(), purpose, plaintext)
    secret = bytes(keyset.pending_keyring[0][1]) if keyring else None
    return Sealed(envelope, bytes(keyset._live_dek()), secret)


def sealed_auth_key(seed: str, plaintext: bytes = AUTH_KEY, **options: Any) -> Sealed:
    return _seal(seed, Purpose.AUTH_KEY, SESSION.encode(), plaintext, **options)


def sealed_string(seed: str, **options: Any) -> Sealed:
    """The envelope inside an encrypted session string."""
    return _seal(seed, Purpose.SESSION_STRING, b"", pack_session(DATA), **options)


def recheck(envelope: bytes) -> bytes:
    """Recompute the (unkeyed) check after an edit, as a deliberate attacker would."""
    body = envelope[:-CHECK_SIZE]
    return body + hashlib.sha256(body).digest()[:CHECK_SIZE]


def edit(envelope: bytes, offset: int, new: bytes) -> bytes:
    return envelope[:offset] + new + envelope[offset + len(new) :]


def first_slot(envelope: bytes) -> int:
    """Offset of the first slot's type byte."""
    return identity_at(envelope) + (IDENTITY_SIZE if envelope[4] >= 2 else 0) + 1


def identity_at(envelope: bytes) -> int:
    """Offset of a version 2 header's identity block (its flags byte)."""
    return 4 + 1 + 16 + 1 + envelope[21]


def as_hex(envelope: bytes) -> str:
    text = envelope.hex()
    return "\n".join(text[i : i + 64] for i in range(0, len(text), 64))


def as_string(envelope: bytes) -> str:
    return ENCRYPTED_PREFIX + _encode(envelope)


def vectors() -> list[Vector]:
    sealed = sealed_auth_key("base")
    base = sealed.envelope
    slot = first_slot(base)
    kdf_at = slot + 3 + 16  # type, length, salt
    good = "a valid envelope"
    auth: list[tuple[str, str, bytes, str]] = [
        ("auth_key_passphrase", "success", base, "one passphrase slot, cheap Argon2id"),
        ("auth_key_truncated", "corrupted", base[:-1], "last byte missing"),
        ("auth_key_extra_byte", "corrupted", base + b"\x00", "one byte appended"),
        ("auth_key_bad_check", "corrupted", edit(base, len(base) - 1, b"\x00"), "check edited"),
        (
            "auth_key_flipped_ciphertext",
            "corrupted",
            edit(base, len(base) - 40, b"\xff"),
            "ciphertext byte changed, check not recomputed",
        ),
        (
            "auth_key_forged_tag",
            "corrupted",
            recheck(edit(base, len(base) - 17, b"\x00")),
            "tag byte changed and check recomputed: only the AEAD tag catches it",
        ),
        ("auth_key_bad_magic", "corrupted", recheck(edit(base, 0, b"X")), "magic is XVLT"),
        (
            "auth_key_version_3",
            "unsupported",
            recheck(edit(base, 4, b"\x03")),
            "format version 3 is unknown to version 2 readers",
        ),
        (
            "auth_key_zero_slots",
            "corrupted",
            recheck(edit(base, slot - 1, b"\x00")),
            "slot count 0",
        ),
        (
            "auth_key_nine_slots",
            "corrupted",
            recheck(edit(base, slot - 1, b"\x09")),
            "slot count above the maximum of 8",
        ),
        (
            "auth_key_unknown_slot_type",
            "unsupported",
            recheck(edit(base, slot, b"\x09")),
            "slot type 9 is not defined in version 1",
        ),
        (
            "auth_key_slot_length",
            "corrupted",
            recheck(edit(base, slot + 1, b"\x00\x57")),
            "passphrase slot body length 87 instead of 88",
        ),
        (
            "auth_key_argon2_64gib",
            "corrupted",
            recheck(edit(base, kdf_at + 4, struct.pack(">I", 64 * 1024 * 1024))),
            "Argon2 memory 64 GiB: above the cap, refused before running the KDF",
        ),
        (
            "auth_key_argon2_zero_passes",
            "corrupted",
            recheck(edit(base, kdf_at, struct.pack(">I", 0))),
            "Argon2 time cost 0",
        ),
        (
            "auth_key_argon2_17_lanes",
            "corrupted",
            recheck(edit(base, kdf_at + 8, struct.pack(">I", 17))),
            "Argon2 parallelism 17",
        ),
        (
            "auth_key_salt_edited",
            "wrong key",
            recheck(edit(base, slot + 3, b"\x00")),
            "salt changed and check recomputed: indistinguishable from a wrong passphrase",
        ),
        (
            "auth_key_vault_id_edited",
            "wrong key",
            recheck(edit(base, 5, b"\x00")),
            "vault id changed: every slot's wrap is bound to it",
        ),
        (
            "auth_key_binding_edited",
            "corrupted",
            recheck(edit(base, 22, b"M")),
            "binding says My_account: not the session it is stored in",
        ),
    ]
    out = [
        Vector(
            name,
            expect,
            "auth-key",
            as_hex(data),
            comment,
            plaintext=AUTH_KEY if expect == "success" else None,
            data_key=sealed.data_key if expect == "success" else None,
        )
        for name, expect, data, comment in auth
    ]
    two_slots = sealed_auth_key("two slots", key=True)
    two = two_slots.envelope
    keyring = sealed_auth_key("keyring", passphrase=False, keyring=True)
    assert keyring.keyring_secret is not None
    keyring_slot_at = first_slot(keyring.envelope)
    out += [
        Vector(
            "auth_key_wrong_passphrase",
            "wrong key",
            "auth-key",
            as_hex(base),
            good + " opened with another passphrase",
            passphrase="Correct horse battery staple",
        ),
        Vector(
            "auth_key_other_session",
            "corrupted",
            "auth-key",
            as_hex(base),
            good + " for my_account stored in the session other_account",
            session="other_account",
        ),
        Vector(
            "auth_key_raw_key",
            "success",
            "auth-key",
            as_hex(two),
            "passphrase and raw-key slots, opened with the raw key",
            passphrase=None,
            key=RAW_KEY,
            plaintext=AUTH_KEY,
            data_key=two_slots.data_key,
        ),
        Vector(
            "auth_key_keyring",
            "success",
            "auth-key",
            as_hex(keyring.envelope),
            "one keyring slot, opened with the keyring entry given",
            passphrase=None,
            keyring=(KEYRING_SERVICE, keyring.keyring_secret),
            plaintext=AUTH_KEY,
            data_key=keyring.data_key,
        ),
        Vector(
            "auth_key_keyring_service_edited",
            "wrong key",
            "auth-key",
            as_hex(recheck(edit(keyring.envelope, keyring_slot_at + 4, b"S"))),
            "keyring slot's service renamed Session-vault, check recomputed: no entry there",
            passphrase=None,
            keyring=(KEYRING_SERVICE, keyring.keyring_secret),
        ),
        Vector(
            "auth_key_raw_key_wrong",
            "wrong key",
            "auth-key",
            as_hex(two),
            "passphrase and raw-key slots, opened with another raw key",
            passphrase=None,
            key=bytes(32),
        ),
        Vector(
            "auth_key_no_matching_slot",
            "wrong key",
            "auth-key",
            as_hex(base),
            "only a passphrase slot, but only a raw key given",
            passphrase=None,
            key=RAW_KEY,
        ),
    ]
    out += index_key_vectors()
    string = sealed_string("string")
    default = sealed_string("default", kdf=DEFAULT_KDF)
    raw = string.envelope
    text = as_string(raw)
    data_keys = {"string_passphrase": string.data_key, "string_default_kdf": default.data_key}
    strings: list[tuple[str, str, str, str]] = [
        ("string_passphrase", "success", text, "an encrypted session string"),
        (
            "string_default_kdf",
            "success",
            as_string(default.envelope),
            "made with the default Argon2id profile t=3 m=64MiB p=4",
        ),
        (
            "string_padded",
            "corrupted",
            text + "=" * (-len(text[7:]) % 4 or 4),
            "base64 padding is not allowed",
        ),
        (
            "string_noncanonical",
            "corrupted",
            text[:-1] + _bump(text[-1]),
            "unused trailing bits set: not canonical base64",
        ),
        (
            "string_bad_character",
            "corrupted",
            text[:40] + "+" + text[41:],
            "'+' is not in the urlsafe alphabet",
        ),
        ("string_no_prefix", "invalid", text[len(ENCRYPTED_PREFIX) :], "prefix missing"),
        ("string_truncated", "corrupted", text[:-4], "last 4 characters missing"),
        (
            "string_forged_tag",
            "corrupted",
            as_string(recheck(edit(raw, len(raw) - 17, b"\x00"))),
            "tag byte changed and check recomputed",
        ),
        (
            "string_holds_auth_key_envelope",
            "corrupted",
            as_string(base),
            "an auth-key envelope presented as a session string",
        ),
    ]
    out += [
        Vector(
            name,
            expect,
            "session-string",
            body,
            comment,
            plaintext=pack_session(DATA) if expect == "success" else None,
            data_key=data_keys.get(name),
        )
        for name, expect, body, comment in strings
    ]
    return out + identity_vectors(base)


def identity_vectors(v1: bytes) -> list[Vector]:
    """Version 2: the envelope binds dc_id, test_mode and user_id (docs/format.md, "v2:
    identity binding"); ``v1`` is a version 1 envelope of the same auth key."""
    sealed = sealed_auth_key("identity", version=2, identity=IDENTITY)
    v2, at = sealed.envelope, identity_at(sealed.envelope)
    string = sealed_string("string v2", version=2)
    failing: list[tuple[str, str, bytes, SessionIdentity, str]] = [
        (
            "auth_key_v2_dc_id_edited",
            "corrupted",
            v2,
            replace(IDENTITY, dc_id=1),
            "sealed for dc_id 4, stored dc_id 1: the session was pointed at another DC",
        ),
        (
            "auth_key_v2_test_mode_edited",
            "corrupted",
            v2,
            replace(IDENTITY, test_mode=True),
            "sealed for test_mode 0, stored test_mode 1",
        ),
        (
            "auth_key_v2_user_id_edited",
            "corrupted",
            v2,
            replace(IDENTITY, user_id=12345),
            "sealed for user_id 777000, stored user_id 12345: the session was relabelled",
        ),
        (
            "auth_key_v2_user_id_cleared",
            "corrupted",
            v2,
            replace(IDENTITY, user_id=None),
            "sealed for user_id 777000, stored without a user_id",
        ),
        (
            "auth_key_v2_identity_forged",
            "corrupted",
            recheck(edit(v2, at + 1, b"\x01")),
            replace(IDENTITY, dc_id=1),
            "dc_id edited to 1 in the header and in the session, check recomputed: only the "
            "AEAD tag catches it",
        ),
        (
            "auth_key_v2_identity_flags",
            "corrupted",
            recheck(edit(v2, at, b"\x0f")),
            IDENTITY,
            "identity presence flags 0x0f: bit 3 is not defined",
        ),
        (
            "auth_key_v2_as_version_1",
            "unsupported",
            recheck(edit(v2, 4, b"\x01")),
            IDENTITY,
            "version byte set to 1, check recomputed: the identity block is read as the slot "
            "count (7) and the first slot type (4, unknown)",
        ),
    ]
    out = [
        Vector(
            "auth_key_v2_identity",
            "success",
            "auth-key",
            as_hex(v2),
            "version 2: sealed for dc_id 4, test_mode 0, user_id 777000, stored alike",
            stored=IDENTITY,
            plaintext=AUTH_KEY,
            data_key=sealed.data_key,
        ),
        Vector(
            "auth_key_v1_identity_unbound",
            "success",
            "auth-key",
            as_hex(v1),
            "version 1 binds no identity: it opens whatever dc_id, test_mode, user_id are stored",
            stored=replace(IDENTITY, dc_id=1, test_mode=True),
            plaintext=AUTH_KEY,
            data_key=sealed_auth_key("base").data_key,
        ),
        Vector(
            "string_v2",
            "success",
            "session-string",
            as_string(string.envelope),
            "version 2 session string: an empty identity block, the payload carries the fields",
            plaintext=pack_session(DATA),
            data_key=string.data_key,
        ),
        Vector(
            "string_v2_names_identity",
            "corrupted",
            "session-string",
            as_string(recheck(edit(string.envelope, identity_at(string.envelope), b"\x01"))),
            "a session string's identity block must be empty; dc_id flag set, check recomputed",
        ),
    ]
    return out + [
        Vector(name, expect, "auth-key", as_hex(body), comment, stored=stored)
        for name, expect, body, stored, comment in failing
    ]


def index_key_vectors() -> list[Vector]:
    """Version 2 payloads with the peer index key ("v2: peer index key"), bound to the
    identity stored alike; version 1 may not hold one."""
    v1_index = sealed_auth_key("version 1 index key", AUTH_KEY + INDEX_KEY, any_size=True)
    v2 = {"version": 2, "identity": IDENTITY}
    both = sealed_auth_key("index key", AUTH_KEY + INDEX_KEY, **v2)
    only = sealed_auth_key("index key only", bytes(256) + INDEX_KEY, **v2)
    return [
        Vector(
            "auth_key_v2_index_key",
            "success",
            "auth-key",
            as_hex(both.envelope),
            "version 2 payload: auth key || peer index key (288 bytes)",
            plaintext=AUTH_KEY + INDEX_KEY,
            data_key=both.data_key,
            index_key=INDEX_KEY,
            stored=IDENTITY,
        ),
        Vector(
            "auth_key_v2_index_key_only",
            "success",
            "auth-key",
            as_hex(only.envelope),
            "version 2 payload of a session not logged in yet: all-zero auth key || index key",
            plaintext=bytes(256) + INDEX_KEY,
            data_key=only.data_key,
            index_key=INDEX_KEY,
            stored=IDENTITY,
        ),
        Vector(
            "auth_key_v1_index_key",
            "corrupted",
            "auth-key",
            as_hex(v1_index.envelope),
            "version 1 with a 288-byte payload: only version 2 may hold an index key",
        ),
    ]


def _bump(char: str) -> str:
    """The next urlsafe base64 character: same high bits, low (unused) bit set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet[alphabet.index(char) ^ 1]


def write(directory: Path = HERE, log: Callable[[str], object] = print) -> None:
    for old in directory.glob("*.txt"):
        old.unlink()
    for vector in vectors():
        (directory / f"{vector.name}.txt").write_text(vector.render())
    log(f"wrote {len(vectors())} vectors to {directory}")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
