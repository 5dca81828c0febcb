"""SessionIdentity: the session fields an auth-key envelope binds (format version 2).

A session's ``dc_id``, ``test_mode`` and ``user_id`` say where its auth key is used and whose it
is. From version 2 an auth-key envelope carries them in its header (authenticated with the rest
of the header, ``docs/format.md``, "v2: identity binding"), so a reader compares them with the
fields stored next to the envelope: an edit of either side is tampering.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from ..errors import CorruptedError

__all__ = ["IDENTITY_FIELDS", "IDENTITY_SIZE", "NO_IDENTITY", "SessionIdentity"]

#: The session fields an envelope binds, in their order in the header.
IDENTITY_FIELDS = ("dc_id", "test_mode", "user_id")
_LAYOUT = struct.Struct(">BBBq")  # presence flags, dc_id, test_mode, user_id
IDENTITY_SIZE = _LAYOUT.size
_FLAGS = {"dc_id": 1, "test_mode": 2, "user_id": 4}
_I64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class SessionIdentity:
    """``dc_id``, ``test_mode`` and ``user_id`` of a session; ``None`` where it has none."""

    dc_id: int | None = None
    test_mode: bool | None = None
    user_id: int | None = None

    @classmethod
    def stored(cls, dc_id: object, test_mode: object, user_id: object) -> SessionIdentity:
        """The identity of the values a storage returned (SQLite's 0/1 ``test_mode`` is a
        bool); :class:`~vault.errors.CorruptedError` naming the field if one cannot be bound."""
        blank = cls()
        return (
            blank.changed("dc_id", dc_id)
            .changed("test_mode", test_mode)
            .changed("user_id", user_id)
        )

    def changed(self, name: str, value: object) -> SessionIdentity:
        """This identity with the field ``name`` set to ``value`` (as stored or written)."""
        changes: dict[str, Any] = {name: _bindable(name, value)}
        return replace(self, **changes)

    def encode(self) -> bytes:
        """The 11 bytes of the header's identity block."""
        flags = sum(_FLAGS[f.name] for f in fields(self) if getattr(self, f.name) is not None)
        return _LAYOUT.pack(flags, self.dc_id or 0, int(bool(self.test_mode)), self.user_id or 0)

    @classmethod
    def decode(cls, data: bytes) -> SessionIdentity:
        """The identity block ``data``; :class:`~vault.errors.CorruptedError` if malformed."""
        flags, dc_id, test_mode, user_id = _LAYOUT.unpack(data)
        present = {name: bool(flags & bit) for name, bit in _FLAGS.items()}
        values = {"dc_id": dc_id, "test_mode": test_mode, "user_id": user_id}
        if flags & ~7 or test_mode > 1 or any(values[n] and not present[n] for n in present):
            raise CorruptedError(
                "the identity block of the encrypted auth key is malformed; the data was "
                "modified, restore it from a backup"
            )
        return cls(
            dc_id if present["dc_id"] else None,
            bool(test_mode) if present["test_mode"] else None,
            user_id if present["user_id"] else None,
        )

    def differences(self, stored: SessionIdentity) -> str:
        """The fields where ``stored`` differs from this (bound) identity, in words."""
        return "; ".join(
            f"{name} is {getattr(stored, name)!r} but the key was sealed for "
            f"{getattr(self, name)!r}"
            for name in IDENTITY_FIELDS
            if getattr(stored, name) != getattr(self, name)
        )


#: No field bound: a session-string envelope's identity, and a session without the fields.
NO_IDENTITY: Final = SessionIdentity()


def _bindable(name: str, value: object) -> int | bool | None:
    if value is None:
        return None
    if name == "test_mode":
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        low, high = (0, 255) if name == "dc_id" else _I64
        if low <= value <= high:
            return value
    raise CorruptedError(
        f"the {name} field holds a value that cannot be a {name} "
        f"({type(value).__name__}); the session was changed outside vault or is damaged"
    )
