"""The one error hierarchy of session-vault.

Every error raised on purpose by vault derives from :class:`VaultError`. Where callers of
Pyrogram-family storages already expect a standard exception, the vault error inherits it too
(for example :class:`InvalidSessionString` is also a :class:`ValueError`), so existing handlers
keep working.

Messages say what happened and what to do. They never contain an auth key, a passphrase, a
derived key or a plaintext session string, and vault never chains an internal cause that could
carry one (``raise ... from None``).
"""

from __future__ import annotations

__all__ = [
    "CorruptedError",
    "InvalidSessionString",
    "InvalidValueError",
    "KdfBudgetError",
    "KeySlotError",
    "KeyringUnavailableError",
    "PlaintextSessionError",
    "RebindNeededError",
    "SchemaError",
    "SealedAuthKeyError",
    "SessionInUseError",
    "StorageClosedError",
    "StorageError",
    "StorageNotOpenError",
    "StorageStateError",
    "StorageWriteError",
    "StoredValueError",
    "UnsupportedDriverError",
    "UnsupportedFormatError",
    "VaultError",
    "WrongKeyError",
]


class VaultError(Exception):
    """Base class of every error session-vault raises on purpose."""


# --- storage ---------------------------------------------------------------------------------


class StorageError(VaultError):
    """A storage backend could not do what was asked."""


class StorageStateError(StorageError, RuntimeError):
    """A storage was used in a state that does not allow the call (not open, open twice...)."""


class StorageNotOpenError(StorageStateError):
    """A storage method that needs an open storage was called before ``open()``."""


class StorageClosedError(StorageStateError):
    """A storage was used after ``close()``; create a new storage object to use it again."""


class StorageWriteError(StorageError, OSError):
    """The medium refused a write (disk full, I/O error, read-only); nothing was changed."""


class InvalidValueError(StorageError, ValueError):
    """A storage refused a value (missing or of the wrong type); nothing was changed."""


class SealedAuthKeyError(StorageError):
    """A bare storage was asked for the auth key of an encrypted session: it holds a sealed
    envelope, which only :class:`~vault.EncryptedStorage` wrapped around the storage opens."""


class SchemaError(StorageError):
    """A database is not a session database vault understands (unknown or newer schema)."""


class SessionInUseError(StorageError):
    """Another process (or another storage object) holds this session open."""


class UnsupportedDriverError(StorageError, TypeError):
    """A database client that vault cannot use was passed (e.g. a synchronous driver)."""


# --- session strings ---------------------------------------------------------------------------


class InvalidSessionString(VaultError, ValueError):
    """A session string could not be decoded. The message never repeats the string."""


# --- encryption --------------------------------------------------------------------------------


class WrongKeyError(VaultError):
    """No key slot could be unlocked with the passphrase or key that was given."""


class CorruptedError(VaultError):
    """Encrypted data was truncated or modified; it cannot be trusted or decrypted."""


class StoredValueError(CorruptedError):
    """A stored session field holds a value of the wrong type or size: the session was
    modified outside vault, or is damaged. ``field`` and ``session`` name where."""

    def __init__(self, message: str, *, session: str = "", field: str = "") -> None:
        super().__init__(message)
        self.session = session
        self.field = field


class RebindNeededError(CorruptedError):
    """The encrypted auth key was sealed for another session name: the session was copied or
    renamed (open it once with ``rebind=True`` if that was on purpose), or swapped in."""


class UnsupportedFormatError(CorruptedError):
    """Encrypted data uses a format version this version of vault does not know."""


class KdfBudgetError(VaultError):
    """Nothing opened, and passphrase slots were skipped because their stored Argon2id costs
    exceed the unlock's ``kdf_budget`` (no KDF ran for them)."""


class PlaintextSessionError(VaultError):
    """An encrypted storage found an unencrypted session and was not told to migrate it."""


class KeyringUnavailableError(VaultError, RuntimeError):
    """The OS keyring is missing or would not protect secrets."""


class KeySlotError(VaultError, ValueError):
    """A key slot change was refused (the last slot, a slot that does not exist, too many)."""
