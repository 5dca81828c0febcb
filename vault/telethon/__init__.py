"""Telethon sessions kept safe at rest (install ``session-vault[telethon]``).

:class:`EncryptedSession` wraps any Telethon session (``SQLiteSession``, ``MemorySession``,
``StringSession``) and seals its auth key with the same envelopes and key slots as
:class:`vault.EncryptedStorage`. Only :class:`EncryptedSession` needs Telethon: the string and
file functions work without it, and ``import vault`` never imports Telethon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .files import decrypt_session_file, encrypt_session_file
from .strings import (
    ENCRYPTED_TELETHON_PREFIX,
    TelethonData,
    decode_telethon_string,
    decrypt_telethon_string,
    encode_telethon_string,
    encrypt_telethon_string,
    is_encrypted_telethon_string,
    looks_like_telethon_string,
)

if TYPE_CHECKING:
    from .session import EncryptedSession

__all__ = [
    "ENCRYPTED_TELETHON_PREFIX",
    "EncryptedSession",
    "TelethonData",
    "decode_telethon_string",
    "decrypt_session_file",
    "decrypt_telethon_string",
    "encode_telethon_string",
    "encrypt_session_file",
    "encrypt_telethon_string",
    "is_encrypted_telethon_string",
    "looks_like_telethon_string",
]


def __getattr__(name: str) -> Any:
    if name == "EncryptedSession":  # imported on first use: it needs Telethon
        from .session import EncryptedSession  # noqa: PLC0415

        return EncryptedSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
