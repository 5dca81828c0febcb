"""Reading Telethon ``StringSession`` strings, so an account moves over without a new login.

A Telethon string is ``"1"`` followed by urlsafe base64 (with padding) of ``>B4sH256s``
(dc id, IPv4 address, port, auth key) or ``>B16sH256s`` for an IPv6 address: 353 or 369
characters. It carries neither the api id nor the user id that a Pyrogram session holds.
"""

from __future__ import annotations

import base64
import binascii
import struct

from ..errors import InvalidSessionString

__all__ = ["TelethonSession", "decode_telethon_string", "looks_like_telethon"]

_VERSION = "1"
_FORMATS = {352: ">B4sH256s", 368: ">B16sH256s"}  # by length after the version character


class TelethonSession:
    """The dc id and auth key of a Telethon string (the address and port are not needed)."""

    __slots__ = ("auth_key", "dc_id")

    def __init__(self, dc_id: int, auth_key: bytes) -> None:
        self.dc_id = dc_id
        self.auth_key = auth_key

    def __repr__(self) -> str:
        return f"TelethonSession(dc_id={self.dc_id})"


def looks_like_telethon(text: str) -> bool:
    """Whether ``text`` has the shape of a Telethon ``StringSession``."""
    text = text.strip()
    return text[:1] == _VERSION and len(text) - 1 in _FORMATS


def decode_telethon_string(text: str) -> TelethonSession:
    """Decode a Telethon ``StringSession``; :class:`~vault.errors.InvalidSessionString`
    (without the string in it) if it is not one."""
    text = text.strip()
    if not looks_like_telethon(text):
        raise InvalidSessionString(
            "expected a Telethon StringSession: '1' then 352 or 368 characters of base64"
        )
    body = text[1:]
    try:
        packed = base64.b64decode(body, altchars=b"-_", validate=True)
        dc_id, _address, _port, auth_key = struct.unpack(_FORMATS[len(body)], packed)
    except (binascii.Error, ValueError, struct.error):
        raise InvalidSessionString(
            "the Telethon StringSession is damaged (not base64 of the expected size); "
            "copy it again in full"
        ) from None
    if not 1 <= dc_id <= 255:
        raise InvalidSessionString("the Telethon StringSession names no valid data center")
    return TelethonSession(dc_id, auth_key)
