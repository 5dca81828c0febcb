"""The envelope: a self-describing, authenticated container for one secret (format version 2;
version 1 is still read).

Byte layout (big-endian; ``docs/format.md`` is the normative description)::

    magic "SVLT" (4) | version 0x02 (1) | vault id (16) | binding length B (1) | binding (B)
    | identity (11, version 2 only: see vault.crypto.identity)
    | slot count N (1) | N x [slot type (1) | body length L (2) | body (L)]      <- header
    | nonce (12) | AES-256-GCM ciphertext | tag (16)                               <- payload
    | check (16) = first 16 bytes of SHA-256(everything before it)

The payload is sealed under the vault's data key with associated data
``"session-vault/v1/" || purpose || 0x00 || header``, so every header byte (slots included), the
purpose, the binding (the session name) and the identity (dc_id, test_mode, user_id) are
authenticated. The check catches accidental damage before any key is derived; it is not a
security boundary, the tag is.

The parser checks sizes, magic, version, check, counts and every slot length before anything
else, and turns every defect into :class:`~vault.errors.CorruptedError` (or
:class:`~vault.errors.UnsupportedFormatError` for an unknown version or slot type).
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass
from typing import Literal, TypeAlias

from ..errors import CorruptedError, UnsupportedFormatError
from .aead import OVERHEAD, Aead
from .identity import IDENTITY_SIZE, NO_IDENTITY, SessionIdentity
from .peer_index import INDEX_KEY_SIZE
from .slots import Slot, parse_slot, slot_body

__all__ = [
    "MAGIC",
    "MAX_ENVELOPE_SIZE",
    "MAX_SLOTS",
    "VAULT_ID_SIZE",
    "VERSION",
    "AuthKeyState",
    "Envelope",
    "Header",
    "Purpose",
    "classify_auth_key",
    "is_envelope",
    "parse",
    "payload_sizes",
    "seal",
]

MAGIC = b"SVLT"
VERSION = 2
#: Versions this reader opens: 1 (no identity in the header; an auth key's payload is the key)
#: and 2 (an identity in the header; the payload may also hold the peer index key, see
#: :func:`payload_sizes`).
READABLE_VERSIONS = frozenset({1, 2})
VAULT_ID_SIZE = 16
CHECK_SIZE = 16
MAX_SLOTS = 8
MAX_BINDING_SIZE = 255
MAX_ENVELOPE_SIZE = 4096
_SLOT_HEAD = struct.Struct(">BH")
_MIN_SIZE = len(MAGIC) + 1 + VAULT_ID_SIZE + 1 + 1 + OVERHEAD + CHECK_SIZE


class Purpose(enum.Enum):
    """What an envelope holds; part of the associated data, with its exact plaintext size."""

    AUTH_KEY = ("auth-key", 256)
    SESSION_STRING = ("session-string", 271)

    def __init__(self, label: str, size: int) -> None:
        self.label = label
        self.size = size


@dataclass(frozen=True)
class Header:
    """The public part of an envelope: who it belongs to and how its data key is unlocked."""

    vault_id: bytes
    binding: bytes
    slots: tuple[Slot, ...]
    #: The session fields bound (version 2; a version 1 header binds none).
    identity: SessionIdentity = NO_IDENTITY
    version: int = VERSION

    def encode(self) -> bytes:
        if not 1 <= len(self.slots) <= MAX_SLOTS:
            raise ValueError(f"an envelope has 1 to {MAX_SLOTS} key slots, not {len(self.slots)}")
        if len(self.binding) > MAX_BINDING_SIZE:
            raise ValueError(f"a binding is at most {MAX_BINDING_SIZE} bytes")
        parts = [MAGIC, bytes([self.version]), self.vault_id, bytes([len(self.binding)])]
        parts.append(self.binding)
        if self.version >= 2:
            parts.append(self.identity.encode())
        parts.append(bytes([len(self.slots)]))
        for slot in self.slots:
            body = slot_body(slot)
            parts += [_SLOT_HEAD.pack(slot.kind, len(body)), body]
        return b"".join(parts)


@dataclass(frozen=True)
class Envelope:
    """A parsed envelope whose payload is not opened yet."""

    header: Header
    header_bytes: bytes
    sealed: bytes

    def open(self, dek: bytearray, purpose: Purpose) -> bytes:
        """Decrypt the payload; :class:`~vault.errors.CorruptedError` if it fails."""
        try:
            return Aead(dek).decrypt(self.sealed, _aad(purpose, self.header_bytes))
        except CorruptedError:
            raise CorruptedError(
                "the encrypted data failed authentication: it was modified, truncated, or "
                "moved from another field or session; restore it from a backup"
            ) from None


def payload_sizes(purpose: Purpose, version: int = VERSION) -> tuple[int, ...]:
    """The plaintext sizes an envelope of ``version`` may hold for ``purpose``. From version 2
    an auth-key payload may be ``auth key (256) || index key (32)``: 256 or 288 bytes (an
    all-zero auth key stands for none; ``docs/format.md``, "v2: peer index key")."""
    if purpose is Purpose.AUTH_KEY and version >= 2:
        return (purpose.size, purpose.size + INDEX_KEY_SIZE)
    return (purpose.size,)


def _aad(purpose: Purpose, header_bytes: bytes) -> bytes:
    return b"session-vault/v1/" + purpose.label.encode("ascii") + b"\x00" + header_bytes


def _check(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:CHECK_SIZE]


def seal(header: Header, dek: bytearray, purpose: Purpose, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` into a complete envelope under ``header``."""
    if len(plaintext) not in payload_sizes(purpose, header.version):
        raise ValueError(f"a {purpose.label} is {purpose.size} bytes, got {len(plaintext)}")
    header_bytes = header.encode()
    body = header_bytes + Aead(dek).encrypt(plaintext, _aad(purpose, header_bytes))
    return body + _check(body)


def is_envelope(data: object) -> bool:
    """Whether ``data`` claims to be an envelope (starts with the magic); says nothing about
    whether it is valid."""
    return isinstance(data, bytes | bytearray | memoryview) and bytes(data[:4]) == MAGIC


#: What a stored auth key field holds; see :func:`classify_auth_key`.
AuthKeyState: TypeAlias = Literal["empty", "plaintext", "sealed", "damaged"]


def classify_auth_key(value: object) -> AuthKeyState:
    """What a stored auth key field holds, judged without any key: ``"empty"`` (``None``: never
    logged in), ``"plaintext"`` (256 bytes that do not start with the magic), ``"sealed"``
    (bytes that start with the magic: :func:`parse` checks the rest) or ``"damaged"``
    (anything else).

    An envelope is always longer than an auth key, so 256 bytes starting with the magic are an
    envelope cut short (refused by :func:`parse`), never a key to seal again; a real key that
    starts with the magic (odds 2**-32) is refused too rather than taken for plaintext.
    """
    if value is None:
        return "empty"
    if is_envelope(value):
        return "sealed"
    if isinstance(value, bytes | bytearray | memoryview) and len(value) == Purpose.AUTH_KEY.size:
        return "plaintext"
    return "damaged"


def parse(data: bytes, purpose: Purpose) -> Envelope:
    """Parse and check an envelope's structure without any key."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CorruptedError(f"expected encrypted bytes, got {type(data).__name__}")
    data = bytes(data)
    if not _MIN_SIZE <= len(data) <= MAX_ENVELOPE_SIZE or data[:4] != MAGIC:
        raise CorruptedError(
            "the data is not a complete session-vault envelope (wrong size or magic); "
            "it was truncated or replaced"
        )
    version = data[4]
    if version not in READABLE_VERSIONS:
        raise UnsupportedFormatError(
            f"the data uses envelope format version {version}, but this version of vault "
            f"reads only versions 1 to {VERSION}; upgrade session-vault"
        )
    body, check = data[:-CHECK_SIZE], data[-CHECK_SIZE:]
    if _check(body) != check:
        raise CorruptedError(
            "the encrypted data is damaged (its checksum does not match); restore it from a backup"
        )
    reader = _Reader(body, 5)
    vault_id = reader.take(VAULT_ID_SIZE)
    binding = reader.take(reader.byte())
    identity = NO_IDENTITY
    if version >= 2:
        identity = SessionIdentity.decode(reader.take(IDENTITY_SIZE))
        if purpose is not Purpose.AUTH_KEY and identity != NO_IDENTITY:
            raise CorruptedError(
                f"a {purpose.label} binds no session fields, but this one names some; the "
                "data was modified or belongs to another field"
            )
    count = reader.byte()
    if not 1 <= count <= MAX_SLOTS:
        raise CorruptedError(f"the envelope declares {count} key slots (1 to {MAX_SLOTS} allowed)")
    slots = []
    for _ in range(count):
        kind, size = _SLOT_HEAD.unpack(reader.take(_SLOT_HEAD.size))
        slots.append(parse_slot(kind, reader.take(size)))
    header_end = reader.offset
    if len(body) - header_end - OVERHEAD not in payload_sizes(purpose, version):
        raise CorruptedError(
            f"the encrypted payload has the wrong size for a {purpose.label}; the data was "
            "modified or belongs to another field"
        )
    header = Header(vault_id, binding, tuple(slots), identity, version)
    return Envelope(header, body[:header_end], body[header_end:])


class _Reader:
    """Bounds-checked reads from the header."""

    def __init__(self, data: bytes, offset: int) -> None:
        self.data = data
        self.offset = offset

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise CorruptedError("the envelope header is truncated")
        chunk, self.offset = self.data[self.offset : end], end
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]
