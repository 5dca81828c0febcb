"""session-vault: Telegram MTProto sessions kept safe at rest.

Drop-in session storages for Pyrogram-family clients (:mod:`vault.storage`) and an encrypting
wrapper around any of them.
"""

from __future__ import annotations

from . import errors
from .errors import VaultError
from .session_string import SessionData, decode_session_string, encode_session_string
from .storage import FileStorage, MemoryStorage, SQLiteStorage, Storage

__version__ = "0.1.0"

__all__ = [
    "FileStorage",
    "MemoryStorage",
    "SQLiteStorage",
    "SessionData",
    "Storage",
    "VaultError",
    "__version__",
    "decode_session_string",
    "encode_session_string",
    "errors",
]
