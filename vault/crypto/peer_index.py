"""PeerIndex: keyed blind-index tokens for the peer cache's usernames and phone numbers.

The storage contract only ever looks a peer up by username or phone number *by equality*, so
the values themselves need not be stored: a keyed token of the normalised value is enough to
find the peer again, and reveals nothing about the value to someone without the index key
(``docs/format.md``, "v2: peer index key")::

    token = lowercase hex( HMAC-SHA256(index_key, label || 0x00 || normalised value)[:16] )

with ``label`` ``b"session-vault/peer-index/v1/username"`` or
``b"session-vault/peer-index/v1/phone"``. Usernames are normalised as Pyrogram-family clients
do before a lookup (lower-case; ``@``, ``+`` and whitespace removed), phone numbers to their
digits, so every lookup a client makes today still finds the peer. Tokens are 32 lower-case hex
characters: unchanged by a backend that lower-cases usernames.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from .wipe import wipe

__all__ = [
    "INDEX_KEY_SIZE",
    "PHONE_LABEL",
    "TOKEN_BYTES",
    "USERNAME_LABEL",
    "PeerIndex",
    "normalise_phone",
    "normalise_username",
]

INDEX_KEY_SIZE: Final = 32
TOKEN_BYTES: Final = 16
USERNAME_LABEL: Final = b"session-vault/peer-index/v1/username\x00"
PHONE_LABEL: Final = b"session-vault/peer-index/v1/phone\x00"

_NOT_IN_USERNAME = re.compile(r"[@+\s]")
_NOT_DIGIT = re.compile(r"[^0-9]")


def normalise_username(username: str) -> str:
    """A username as clients look it up: lower-case, without ``@``, ``+`` or whitespace."""
    lowered = username.lower()
    # An identifier holds none of those: the common case skips the (slower) regex.
    return lowered if lowered.isidentifier() else _NOT_IN_USERNAME.sub("", lowered)


def normalise_phone(phone_number: str) -> str:
    """A phone number as its digits only (``+1 555-0100`` and ``15550100`` are the same)."""
    if phone_number.isascii() and phone_number.isdigit():
        return phone_number
    return _NOT_DIGIT.sub("", phone_number)


class PeerIndex:
    """Turns usernames and phone numbers into tokens under one 32-byte index key.

    The key is copied into a ``bytearray`` wiped by :meth:`wipe`; the HMAC states keyed with
    it are kept so that each token costs one HMAC finalisation."""

    def __init__(self, index_key: bytes | bytearray) -> None:
        if len(index_key) != INDEX_KEY_SIZE:
            raise ValueError(f"an index key is {INDEX_KEY_SIZE} bytes, got {len(index_key)}")
        self._key = bytearray(index_key)
        self._username = hmac.new(self._key, USERNAME_LABEL, hashlib.sha256)
        self._phone = hmac.new(self._key, PHONE_LABEL, hashlib.sha256)

    def __repr__(self) -> str:
        return "PeerIndex(<key hidden>)"

    def username(self, username: str) -> str:
        """The token stored (and looked up) in place of ``username``."""
        mac = self._username.copy()
        mac.update(normalise_username(username).encode("utf-8", "surrogatepass"))
        return mac.digest()[:TOKEN_BYTES].hex()

    def phone(self, phone_number: str) -> str:
        """The token stored (and looked up) in place of ``phone_number``."""
        mac = self._phone.copy()
        mac.update(normalise_phone(phone_number).encode("ascii"))
        return mac.digest()[:TOKEN_BYTES].hex()

    def wipe(self) -> None:
        """Overwrite the key copy (the HMAC states cannot be wiped from Python; drop them)."""
        wipe(self._key)
        self._username = self._phone = hmac.new(b"\x00", digestmod=hashlib.sha256)
