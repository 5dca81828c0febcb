"""Best-effort overwriting of secrets held in ``bytearray`` (see SECURITY.md for the limits)."""

from __future__ import annotations

__all__ = ["wipe"]


def wipe(secret: bytearray) -> None:
    """Overwrite ``secret`` with zeros in place."""
    secret[:] = bytes(len(secret))
