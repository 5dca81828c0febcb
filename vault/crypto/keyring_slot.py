"""The OS keyring side of keyring slots: refuse unsafe backends, store and fetch slot keys.

A keyring slot's 256-bit key is stored with :mod:`keyring` under the slot's service name
(default ``"session-vault"``) and the username ``vault-<vault id in hex>``, so each vault has
its own entry. The ``keyring`` package is optional (``pip install 'session-vault[keyring]'``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import KeyringUnavailableError
from .aead import KEY_SIZE

__all__ = [
    "DEFAULT_SERVICE",
    "check_backend",
    "check_service",
    "delete_secret",
    "entry_name",
    "load_secret",
    "store_secret",
]

DEFAULT_SERVICE = "session-vault"

# (module, class name) of backends that store nothing or store secrets in the clear.
_UNSAFE = frozenset(
    {
        ("keyring.backends.fail", "Keyring"),
        ("keyring.backends.null", "Keyring"),
        ("keyrings.alt.file", "PlaintextKeyring"),
    }
)
_WHAT_TO_DO = (
    "install and unlock a real keyring (GNOME Keyring or KWallet on Linux, with the "
    "'secretstorage' or 'dbus-python' package; Keychain on macOS; Credential Locker on "
    "Windows), or use a passphrase instead of keyring=True"
)


def _module() -> Any:
    try:
        import keyring  # noqa: PLC0415 - optional dependency, imported only when used
    except ImportError:
        raise KeyringUnavailableError(
            "keyring=True needs the 'keyring' package: pip install 'session-vault[keyring]', "
            "or use a passphrase instead"
        ) from None
    return keyring


def _is_unsafe(backend: object) -> bool:
    cls = type(backend)
    # Subclasses too: a renamed PlaintextKeyring still writes secrets in the clear.
    if any((base.__module__, base.__name__) in _UNSAFE for base in cls.__mro__):
        return True
    members = getattr(backend, "backends", None)
    if cls.__name__ == "ChainerBackend" and isinstance(members, list):
        return not members or any(_is_unsafe(member) for member in members)
    return _priority(backend) < 1


def _priority(backend: object) -> float:
    """The backend's own rating; keyring rates backends that are not recommended (plaintext,
    fail, null, obfuscating files) below 1. An unreadable rating counts as unusable."""
    try:
        priority = getattr(type(backend), "priority", None)
        return float(priority) if isinstance(priority, int | float) else 0.0
    except Exception:
        return 0.0


def check_backend() -> Any:
    """The active keyring backend, or :class:`~vault.errors.KeyringUnavailableError` if it
    would not protect a secret (none found, the null backend, a plaintext file, a subclass of
    one of those, any backend rated below priority 1)."""
    backend = _module().get_keyring()
    if _is_unsafe(backend):
        cls = type(backend)
        raise KeyringUnavailableError(
            f"the OS keyring backend in use ({cls.__module__}.{cls.__name__}) does not protect "
            f"secrets; {_WHAT_TO_DO}"
        )
    return backend


def check_service(service: str) -> None:
    """Raise :class:`ValueError` unless ``service`` is 1..255 bytes of UTF-8."""
    if not isinstance(service, str) or not 1 <= len(service.encode("utf-8")) <= 255:
        raise ValueError("a keyring service name must be a non-empty str of at most 255 bytes")


def entry_name(vault_id: bytes) -> str:
    """The keyring username of a vault's entry."""
    return "vault-" + vault_id.hex()


def _failed(action: str, service: str, error: Exception) -> KeyringUnavailableError:
    return KeyringUnavailableError(
        f"the OS keyring could not {action} the entry of service {service!r} "
        f"({type(error).__name__}); unlock the keyring, or use a passphrase instead"
    )


def store_secret(service: str, vault_id: bytes, secret: bytearray) -> None:
    """Store a slot key in the keyring (as base64 text, which is what keyrings hold)."""
    backend = check_backend()
    text = base64.b64encode(secret).decode("ascii")
    try:
        backend.set_password(service, entry_name(vault_id), text)
    except Exception as error:
        raise _failed("store", service, error) from None


def load_secret(service: str, vault_id: bytes) -> bytearray | None:
    """The slot key stored for this vault, or ``None`` if there is no (valid) entry."""
    backend = check_backend()
    try:
        text = backend.get_password(service, entry_name(vault_id))
    except Exception as error:
        raise _failed("read", service, error) from None
    if not isinstance(text, str):
        return None
    try:
        secret = bytearray(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) == KEY_SIZE else None


def delete_secret(service: str, vault_id: bytes) -> bool:
    """Remove the vault's entry; ``False`` if it could not be removed (best effort)."""
    try:
        _module().get_keyring().delete_password(service, entry_name(vault_id))
    except Exception:
        return False
    return True
