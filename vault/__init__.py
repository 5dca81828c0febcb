"""session-vault: Telegram MTProto sessions kept safe at rest.

Drop-in session storages for Pyrogram-family clients (:mod:`vault.storage`) and an encrypting
wrapper around any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .crypto import decrypt_session_string, encrypt_session_string
from .encrypted import EncryptedStorage
from .errors import VaultError
from .keyslots import KeySlots
from .session_string import SessionData, decode_session_string, encode_session_string
from .storage import FileStorage, MemoryStorage, SQLiteStorage, Storage

if TYPE_CHECKING:
    from .storage.mongo import MongoStorage

__version__ = "0.1.0"

__all__ = [
    "EncryptedStorage",
    "FileStorage",
    "KeySlots",
    "MemoryStorage",
    "MongoStorage",
    "SQLiteStorage",
    "SessionData",
    "Storage",
    "VaultError",
    "__version__",
    "decode_session_string",
    "decrypt_session_string",
    "encode_session_string",
    "encrypt_session_string",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name == "MongoStorage":  # imported on first use: it needs pymongo
        from .storage.mongo import MongoStorage  # noqa: PLC0415

        return MongoStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
