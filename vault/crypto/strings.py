"""Encrypted session strings: ``vault1:`` then unpadded urlsafe base64 of an envelope.

The envelope (purpose ``session-string``, empty binding) carries the 271 packed bytes of a
current-format Pyrogram session string. Decoders accept only the canonical encoding: no
padding, no characters outside ``A-Z a-z 0-9 - _``, no non-zero trailing bits.
"""

from __future__ import annotations

import base64
import binascii
import re

from ..errors import CorruptedError, InvalidSessionString
from ..session_string import (
    ENCRYPTED_PREFIX,
    SessionData,
    decode_session_string,
    encode_session_string,
    pack_session,
    unpack_session,
)
from .envelope import MAX_ENVELOPE_SIZE, Envelope, Purpose, parse
from .kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from .keyset import Keyset, open_keyset
from .slots import Credentials

__all__ = [
    "decrypt_session_string",
    "encrypt_session_string",
    "is_encrypted_string",
    "open_session",
    "open_string",
    "parse_any_string",
    "parse_encrypted_string",
    "seal_session",
]

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_MAX_TEXT = len(ENCRYPTED_PREFIX) + (MAX_ENVELOPE_SIZE * 4 + 2) // 3


def is_encrypted_string(text: object) -> bool:
    """Whether ``text`` claims to be an encrypted session string (has the prefix)."""
    return isinstance(text, str) and text.strip().startswith(ENCRYPTED_PREFIX)


def parse_encrypted_string(text: str) -> Envelope:
    """Check an encrypted session string's syntax and envelope structure (no key needed).

    :class:`~vault.errors.InvalidSessionString` if it is not an encrypted string at all,
    :class:`~vault.errors.CorruptedError` if it is one but damaged.
    """
    if not is_encrypted_string(text):
        raise InvalidSessionString(
            f"expected an encrypted session-vault string starting with {ENCRYPTED_PREFIX!r}; "
            "a plain Pyrogram string must be encrypted first (vault.encrypt_session_string)"
        )
    body = text.strip()[len(ENCRYPTED_PREFIX) :]
    if len(body) > _MAX_TEXT or len(body) % 4 == 1 or not _ALPHABET.fullmatch(body):
        raise CorruptedError(
            "the encrypted session string is damaged (wrong length or characters outside "
            "urlsafe base64); copy it again in full"
        )
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        data = b""
    if _encode(data) != body:
        raise CorruptedError(
            "the encrypted session string is not canonical base64 (it was altered); copy it "
            "again in full"
        )
    return parse(data, Purpose.SESSION_STRING)


def parse_any_string(text: str) -> Envelope | SessionData:
    """An encrypted session string's envelope (not opened), or a plain string's data."""
    return (
        parse_encrypted_string(text) if is_encrypted_string(text) else decode_session_string(text)
    )


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def seal_session(keyset: Keyset, data: SessionData) -> str:
    """The encrypted session string of ``data`` under ``keyset``."""
    envelope = keyset.seal(Purpose.SESSION_STRING, b"", pack_session(data))
    return ENCRYPTED_PREFIX + _encode(envelope)


def open_session(keyset: Keyset, envelope: Envelope) -> SessionData:
    """The session data inside an encrypted string's envelope."""
    return unpack_session(keyset.open(envelope, Purpose.SESSION_STRING))


def open_string(
    data: Envelope | SessionData, creds: Credentials, kdf: KdfParams = DEFAULT_KDF
) -> tuple[Keyset, SessionData]:
    """The vault and session data of a parsed session string (see :func:`parse_any_string`):
    an encrypted one's vault unlocked with ``creds`` and its envelope opened, or a plain one's
    data and a new vault for it (see :func:`~vault.crypto.keyset.open_keyset`)."""
    if not isinstance(data, Envelope):
        return open_keyset(creds, kdf=kdf), data
    keyset = open_keyset(creds, data.header)
    try:
        return keyset, open_session(keyset, data)
    except BaseException:
        keyset.wipe()
        raise


def encrypt_session_string(
    session_string: str,
    *,
    passphrase: Passphrase | None = None,
    key: bytes | None = None,
    kdf: KdfParams = DEFAULT_KDF,
) -> str:
    """Encrypt a Pyrogram session string so it can be pasted into a CI secret or ``.env``.

    Give a ``passphrase`` (str, bytes or a zero-argument callable), a 32-byte ``key``, or both
    (either then decrypts it). Raises :class:`~vault.errors.InvalidSessionString` if the input
    is not a valid plain session string. A ``kdf`` above :data:`~vault.crypto.DEFAULT_KDF_BUDGET`
    needs a matching ``kdf_budget`` to decrypt it.
    """
    data = decode_session_string(session_string)
    keyset = open_keyset(Credentials.from_args(passphrase=passphrase, key=key), kdf=kdf)
    try:
        return seal_session(keyset, data)
    finally:
        keyset.wipe()


def decrypt_session_string(
    encrypted: str,
    *,
    passphrase: Passphrase | None = None,
    key: bytes | None = None,
    keyring: bool | str = False,
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
) -> str:
    """Decrypt an encrypted session string back to a plain Pyrogram session string.

    The result is a bearer credential for the account: keep it out of logs and files.
    Raises :class:`~vault.errors.WrongKeyError` if no key given unlocks it and
    :class:`~vault.errors.CorruptedError` if it was altered or truncated. A hostile string
    cannot make it spend more Argon2id work than ``kdf_budget``
    (:class:`~vault.crypto.KdfBudget`): over-budget passphrase slots are skipped, and
    :class:`~vault.errors.KdfBudgetError` is raised if nothing else opened it.
    """
    envelope = parse_encrypted_string(encrypted)
    creds = Credentials.from_args(passphrase, keyring, key, kdf_budget)
    keyset, data = open_string(envelope, creds)
    try:
        return encode_session_string(data)
    finally:
        keyset.wipe()
