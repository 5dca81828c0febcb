"""The Pyrogram session string codec, shared by every storage, the encryption layer and the CLI.

A session string is the urlsafe base64 (without padding) of a fixed-size big-endian struct:

=========  ====================  ======  =========================================
length     struct                bytes   fields
=========  ====================  ======  =========================================
362 chars  ``>BI?256sQ?``        271     dc_id, api_id, test_mode, auth_key,
                                         user_id, is_bot (current format)
356 chars  ``>B?256sQ?``         267     as above without api_id (64-bit user ids)
351 chars  ``>B?256sI?``         263     as above with a 32-bit user id (oldest)
=========  ====================  ======  =========================================

:func:`encode_session_string` always writes the current format; :func:`decode_session_string`
reads all three. Errors never repeat the string, which is a bearer credential.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field

from .errors import InvalidSessionString

__all__ = [
    "ENCRYPTED_PREFIX",
    "SESSION_STRING_FORMAT",
    "SessionData",
    "decode_session_string",
    "encode_session_string",
    "pack_session",
    "unpack_session",
]

SESSION_STRING_FORMAT = ">BI?256sQ?"
OLD_SESSION_STRING_FORMAT = ">B?256sI?"
OLD_SESSION_STRING_FORMAT_64 = ">B?256sQ?"

#: Encrypted session strings (see ``docs/format.md``) start with this; ``:`` is outside the
#: urlsafe base64 alphabet, so an encrypted string can never be taken for a Pyrogram one.
ENCRYPTED_PREFIX = "vault1:"

AUTH_KEY_SIZE = 256

_FORMATS_BY_LENGTH = {
    362: SESSION_STRING_FORMAT,
    356: OLD_SESSION_STRING_FORMAT_64,
    351: OLD_SESSION_STRING_FORMAT,
}
_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")
_EXPECTED = (
    "expected a Pyrogram session string: 362 characters of urlsafe base64 "
    "(or 356/351 for the old formats without api_id)"
)


@dataclass(frozen=True)
class SessionData:
    """The part of a session that a session string carries.

    ``api_id`` is ``None`` when the data came from one of the two old formats. The auth key is
    kept out of ``repr()``.
    """

    dc_id: int
    api_id: int | None
    test_mode: bool
    auth_key: bytes = field(repr=False)
    user_id: int
    is_bot: bool


def pack_session(data: SessionData) -> bytes:
    """Pack ``data`` into the 271 bytes of the current session string format.

    Raises :class:`ValueError` (an :class:`InvalidSessionString`) if a field does not fit.
    """
    if len(data.auth_key) != AUTH_KEY_SIZE:
        raise InvalidSessionString(
            f"cannot make a session string: the auth key must be {AUTH_KEY_SIZE} bytes, "
            f"got {len(data.auth_key)}; log in again to get a complete session"
        )
    try:
        return struct.pack(
            SESSION_STRING_FORMAT,
            data.dc_id,
            data.api_id or 0,
            data.test_mode,
            data.auth_key,
            data.user_id,
            data.is_bot,
        )
    except struct.error:
        raise InvalidSessionString(
            "cannot make a session string: dc_id must fit in 1 byte, api_id in 4 bytes and "
            "user_id in 8 bytes (unsigned); check the values stored in the session"
        ) from None


def unpack_session(packed: bytes) -> SessionData:
    """Read the packed bytes of any of the three formats (chosen by length)."""
    by_size = {struct.calcsize(fmt): fmt for fmt in _FORMATS_BY_LENGTH.values()}
    fmt = by_size.get(len(packed))
    if fmt is None:
        raise InvalidSessionString(f"{_EXPECTED}; the decoded data has the wrong length")
    if fmt == SESSION_STRING_FORMAT:
        dc_id, api_id, test_mode, auth_key, user_id, is_bot = struct.unpack(fmt, packed)
    else:
        dc_id, test_mode, auth_key, user_id, is_bot = struct.unpack(fmt, packed)
        api_id = None
    if dc_id == 0:
        raise InvalidSessionString(f"{_EXPECTED}; the decoded data names no data center")
    return SessionData(dc_id, api_id, test_mode, auth_key, user_id, is_bot)


def encode_session_string(data: SessionData) -> str:
    """Encode ``data`` as a current-format (362 character) Pyrogram session string."""
    return base64.urlsafe_b64encode(pack_session(data)).decode("ascii").rstrip("=")


def decode_session_string(text: str) -> SessionData:
    """Decode a Pyrogram session string of any of the three formats.

    Surrounding whitespace (a pasted newline) is ignored. Anything else that is not a valid
    session string raises :class:`InvalidSessionString`, whose message says what was expected
    and never contains the string.
    """
    if not isinstance(text, str):
        raise InvalidSessionString(f"{_EXPECTED}; got {type(text).__name__}, not str")
    text = text.strip()
    if text.startswith(ENCRYPTED_PREFIX):
        raise InvalidSessionString(
            "this is an encrypted session-vault string (vault1:), which no client's "
            "Client(session_string=...) can read; open it with "
            "EncryptedStorage(MemoryStorage(), session_string=..., passphrase=...) and give "
            "the client that storage (see docs/session-strings.md), or decrypt it with "
            "vault.decrypt_session_string()"
        )
    fmt = _FORMATS_BY_LENGTH.get(len(text))
    if fmt is None:
        hint = ""
        if text[:1] == "1" and len(text) in (353, 369):
            hint = (
                "; this looks like a Telethon StringSession, which `session-vault import` "
                "can convert"
            )
        raise InvalidSessionString(f"{_EXPECTED}; got {len(text)} characters{hint}")
    try:
        if not _URLSAFE.fullmatch(text):
            raise ValueError
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSessionString(
            f"{_EXPECTED}; it contains characters outside that alphabet"
        ) from None
    if len(packed) != struct.calcsize(fmt):
        raise InvalidSessionString(f"{_EXPECTED}; the decoded data has the wrong length")
    return unpack_session(packed)
