"""Telethon ``StringSession`` strings, plain and encrypted (works without Telethon installed).

A plain Telethon string is ``"1"`` then urlsafe base64 (with padding) of ``>B4sH256s`` (dc id,
IPv4 address, port, auth key) or ``>B16sH256s`` for an IPv6 address: 353 or 369 characters.

An encrypted one is ``vault1-telethon:`` then unpadded urlsafe base64 of one auth-key envelope
(``docs/format.md``) bound to ``telethon:DC/ADDRESS/PORT``, e.g. ``telethon:4/149.154.167.91/443``:
the envelope's tag authenticates them with the key, so an edited address or dc is detected.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from dataclasses import dataclass, field

from ..crypto.envelope import MAX_ENVELOPE_SIZE
from ..crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..crypto.keyset import Keyset
from ..errors import CorruptedError, InvalidSessionString
from ._sealer import AUTH_KEY_SIZE, AuthKeySealer, new_keyset, parse_envelope, unlock_keyset

__all__ = [
    "ENCRYPTED_TELETHON_PREFIX",
    "TelethonData",
    "decode_telethon_string",
    "decrypt_telethon_string",
    "encode_telethon_string",
    "encrypt_telethon_string",
    "is_encrypted_telethon_string",
    "looks_like_telethon_string",
]

#: Encrypted Telethon strings start with this (``:`` is outside base64, so no plain string can).
ENCRYPTED_TELETHON_PREFIX = "vault1-telethon:"
_VERSION = "1"
_FORMATS = {352: ">B4sH256s", 368: ">B16sH256s"}  # by length after the version character
_BINDING_PREFIX = "telethon:"
_ADDRESS_FORMATS = {4: ">B4sH", 16: ">B16sH"}
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TEXT = len(ENCRYPTED_TELETHON_PREFIX) + (MAX_ENVELOPE_SIZE * 4 + 2) // 3


@dataclass(frozen=True)
class TelethonData:
    """What a Telethon string holds: data center, its address and port, and the auth key."""

    dc_id: int
    server_address: str
    port: int
    auth_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.dc_id <= 255 or not 0 < self.port < 65536:
            raise InvalidSessionString("a Telethon session needs a dc id 1-255 and a port")
        if len(self.auth_key) != AUTH_KEY_SIZE:
            raise InvalidSessionString(f"an auth key is {AUTH_KEY_SIZE} bytes")
        _packed_address(self.server_address)

    def connection(self) -> bytes:
        """The packed dc id, address and port, as a Telethon string holds them."""
        ip = _packed_address(self.server_address)
        return struct.pack(_ADDRESS_FORMATS[len(ip)], self.dc_id, ip, self.port)


def _packed_address(address: str) -> bytes:
    try:
        return ipaddress.ip_address(address).packed
    except ValueError:
        raise InvalidSessionString(
            "a Telethon string holds the server address as an IP address"
        ) from None


def looks_like_telethon_string(text: str) -> bool:
    """Whether ``text`` has the shape of a plain Telethon ``StringSession`` string."""
    text = text.strip()
    return text[:1] == _VERSION and len(text) - 1 in _FORMATS


def decode_telethon_string(text: str) -> TelethonData:
    """Decode a plain Telethon string; :class:`~vault.errors.InvalidSessionString` (never
    repeating the string) if it is not one or holds no auth key."""
    text = text.strip()
    if not looks_like_telethon_string(text):
        raise InvalidSessionString(
            "expected a Telethon StringSession string: '1' then 352 or 368 characters of base64"
        )
    body = text[1:]
    try:
        packed = base64.b64decode(body, altchars=b"-_", validate=True)
        dc_id, ip, port, auth_key = struct.unpack(_FORMATS[len(body)], packed)
    except (binascii.Error, ValueError, struct.error):
        raise InvalidSessionString(
            "the Telethon string is damaged (not base64 of the expected size); copy it again"
        ) from None
    if not any(auth_key):
        raise InvalidSessionString("the Telethon string holds no auth key (not logged in)")
    return TelethonData(dc_id, ipaddress.ip_address(ip).compressed, port, auth_key)


def encode_telethon_string(data: TelethonData) -> str:
    """The plain Telethon string of ``data``, as ``StringSession.save()`` writes it. It is a
    bearer credential for the account: keep it out of logs, files and shell history."""
    packed = data.connection() + data.auth_key
    return _VERSION + base64.urlsafe_b64encode(packed).decode("ascii")


# --- encrypted strings -------------------------------------------------------------------------


def is_encrypted_telethon_string(text: object) -> bool:
    """Whether ``text`` claims to be an encrypted Telethon string (has the prefix)."""
    return isinstance(text, str) and text.strip().startswith(ENCRYPTED_TELETHON_PREFIX)


def _name(data: TelethonData) -> str:
    """The envelope binding of an encrypted string: where the key is valid."""
    return f"{_BINDING_PREFIX}{data.dc_id}/{data.server_address}/{data.port}"


def seal_telethon(keyset: Keyset, data: TelethonData) -> str:
    """The encrypted string of ``data`` under an unlocked vault."""
    envelope = AuthKeySealer(keyset, _name(data)).seal(data.auth_key)
    return ENCRYPTED_TELETHON_PREFIX + base64.urlsafe_b64encode(envelope).decode().rstrip("=")


def envelope_of(text: str) -> bytes:
    """The envelope inside an encrypted Telethon string, checked for syntax and structure."""
    if not is_encrypted_telethon_string(text):
        raise InvalidSessionString(
            f"expected an encrypted Telethon string starting with {ENCRYPTED_TELETHON_PREFIX!r}; "
            "encrypt a plain one first (vault.telethon.encrypt_telethon_string)"
        )
    body = text.strip()[len(ENCRYPTED_TELETHON_PREFIX) :]
    damaged = CorruptedError(
        "the encrypted Telethon string is damaged (wrong length, characters or padding); "
        "copy it again in full"
    )
    if len(body) > _MAX_TEXT or len(body) % 4 == 1 or not _ALPHABET.fullmatch(body):
        raise damaged
    try:
        envelope = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise damaged from None
    if base64.urlsafe_b64encode(envelope).decode().rstrip("=") != body:
        raise damaged
    parse_envelope(envelope)
    return envelope


def open_telethon(keyset: Keyset, envelope: bytes) -> TelethonData:
    """The session inside an encrypted string's envelope, opened with its unlocked vault."""
    data = _connection(parse_envelope(envelope).header.binding)
    plain = AuthKeySealer(keyset, _name(data)).open(envelope)
    if plain is None:  # only a Pyrogram-family vault's envelope can hold no auth key
        raise CorruptedError(
            "the encrypted string holds no auth key, so it is not a Telethon session string; "
            "restore it from where you saved it"
        )
    return TelethonData(data.dc_id, data.server_address, data.port, plain)


def _connection(binding: bytes) -> TelethonData:
    """The dc, address and port named by an encrypted string's binding (a placeholder key)."""
    wrong = CorruptedError(
        "the encrypted string does not hold a Telethon session (it may be a Pyrogram vault1: "
        "string or an auth key copied out of a session file)"
    )
    text = binding.decode("ascii", "replace")
    parts = text[len(_BINDING_PREFIX) :].split("/")
    if not text.startswith(_BINDING_PREFIX) or len(parts) != 3:
        raise wrong
    try:
        data = TelethonData(int(parts[0]), parts[1], int(parts[2]), bytes(AUTH_KEY_SIZE))
    except (ValueError, InvalidSessionString):
        raise wrong from None
    if _name(data) != text:  # one canonical spelling: 4/149.154.167.91/443
        raise wrong
    return data


def encrypt_telethon_string(
    telethon_string: str,
    *,
    passphrase: Passphrase | None = None,
    key: bytes | None = None,
    kdf: KdfParams = DEFAULT_KDF,
) -> str:
    """Encrypt a plain Telethon ``StringSession`` string for a CI secret or ``.env`` file.

    Give a ``passphrase`` (str, bytes or a zero-argument callable), a 32-byte ``key``, or
    both (either then opens it). A ``kdf`` above :data:`~vault.crypto.DEFAULT_KDF_BUDGET`
    needs a matching ``kdf_budget`` to open it. Resume a client from the result with
    :meth:`vault.telethon.EncryptedSession.from_string`. Raises
    :class:`~vault.errors.InvalidSessionString` if the input is not a plain Telethon string.
    """
    data = decode_telethon_string(telethon_string)
    if passphrase is None and key is None:
        raise ValueError("encrypt_telethon_string needs a passphrase or a key")
    keyset = new_keyset(kdf, passphrase=passphrase, key=key)
    try:
        return seal_telethon(keyset, data)
    finally:
        keyset.wipe()


def decrypt_telethon_string(
    encrypted: str,
    *,
    passphrase: Passphrase | None = None,
    key: bytes | None = None,
    keyring: bool | str = False,
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
) -> str:
    """DANGEROUS: the plain Telethon string inside an encrypted one. Anyone who sees the
    result has the account; prefer resuming with :meth:`EncryptedSession.from_string`.

    Raises :class:`~vault.errors.WrongKeyError` if nothing given opens it,
    :class:`~vault.errors.CorruptedError` if it was altered or truncated, and
    :class:`~vault.errors.KdfBudgetError` if its passphrase slots ask for more Argon2id work
    than ``kdf_budget`` (then none ran).
    """
    envelope = envelope_of(encrypted)
    header = parse_envelope(envelope).header
    keyset = unlock_keyset(header, passphrase, keyring, key, kdf_budget)
    try:
        return encode_telethon_string(open_telethon(keyset, envelope))
    finally:
        keyset.wipe()
