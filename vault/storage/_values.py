"""The type and size each stored session field may have; anything else is refused.

SQLite columns and MongoDB documents hold whatever was written into them, so a damaged or
crafted session can carry text where the auth key belongs, a float data center, a huge
integer. The backends pass every session field they read through :func:`checked`, which
raises :class:`~vault.errors.StoredValueError` (naming the field and the session, never the
value) instead of letting such a value reach a client as if it were real.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ..crypto.envelope import classify_auth_key
from ..errors import SealedAuthKeyError, StoredValueError

__all__ = ["checked", "refuse_sealed"]

#: Size of a plaintext MTProto auth key. Longer values are envelopes (sealed by
#: EncryptedStorage, which decides which is which); empty is Pyrofork's "no key" placeholder.
AUTH_KEY_SIZE: Final = 256
#: Far above any envelope vault writes (a few hundred bytes, at most 4 KiB): only a bound that
#: keeps a hostile value from costing memory.
MAX_AUTH_KEY_FIELD: Final = 64 * 1024


def _int_from(low: int, high: int) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        # bool is an int, but no integer field is written as one.
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return check


def _flag(value: object) -> bool:
    return isinstance(value, int) and value in (0, 1)  # bool, or SQLite's 0/1


def _auth_key(value: object) -> bool:
    return isinstance(value, bytes) and (
        AUTH_KEY_SIZE <= len(value) <= MAX_AUTH_KEY_FIELD or not value
    )


def _address(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255


#: field -> the test a stored value must pass; the ranges are those of the session string
#: format where it carries the field.
_VALID: Final[dict[str, Callable[[object], bool]]] = {
    "dc_id": _int_from(1, 255),
    "api_id": _int_from(0, 2**32 - 1),
    "test_mode": _flag,
    "auth_key": _auth_key,
    "date": _int_from(0, 2**63 - 1),
    "user_id": _int_from(-(2**63), 2**64 - 1),
    "is_bot": _flag,
    "server_address": _address,
    "port": _int_from(0, 65535),
}
#: What each field should hold, in words, for the error.
_EXPECTED: Final = {
    "dc_id": "an integer data center id from 1 to 255",
    "api_id": "an integer API id from 0 to 2**32 - 1",
    "test_mode": "a boolean (or 0/1)",
    "auth_key": f"bytes: a {AUTH_KEY_SIZE}-byte auth key or an envelope of at most "
    f"{MAX_AUTH_KEY_FIELD} bytes",
    "date": "a non-negative integer Unix time",
    "user_id": "a 64-bit integer user id",
    "is_bot": "a boolean (or 0/1)",
    "server_address": "a host name or IP address of at most 255 characters",
    "port": "an integer port from 0 to 65535",
}


def checked(session: str, field: str, value: object) -> object:
    """Return ``value`` (the session field ``field`` as read from storage) if ``None`` or of
    the type and size that field holds; raise :class:`~vault.errors.StoredValueError` if not."""
    if value is None or _VALID[field](value):
        return value
    raise StoredValueError(
        f"the {field} field of session {session!r} holds {_described(value)}, not "
        f"{_EXPECTED[field]}: the session was changed outside vault or is damaged; restore "
        "it from a backup, or log in again to make a new one",
        session=session,
        field=field,
    )


def refuse_sealed(session: str, stored: object) -> None:
    """Raise :class:`~vault.errors.SealedAuthKeyError` if the auth key field ``stored`` of
    ``session``, read by a storage nobody wrapped, holds a sealed envelope."""
    if classify_auth_key(stored) == "sealed":
        raise SealedAuthKeyError(
            f"the auth key of session {session!r} is encrypted by session-vault, and this "
            "storage is not wrapped to open it: use EncryptedStorage(<this storage>, "
            "passphrase=... or keyring=... or key=...), e.g. "
            f"EncryptedStorage(FileStorage({session!r}), passphrase=...)"
        )


def _described(value: object) -> str:
    """The type of a refused value, and its size where it has one: never the value itself,
    which may be (part of) a key."""
    kind = type(value).__name__
    if isinstance(value, bytes | bytearray | str | list | dict):
        return f"{kind} of length {len(value)}"
    return kind
