"""The value types of the storage contract: the :data:`UNSET` marker and update-state rows.

A module of its own, importing nothing of vault's, so that every storage module can use them
without importing :mod:`vault.storage.base`.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["UNSET", "StateRow", "Unset"]

#: ``(id, pts, qts, date, seq)`` of one update state entry.
StateRow = tuple[int, "int | None", "int | None", "int | None", "int | None"]


class Unset(enum.Enum):
    """Type of :data:`UNSET`, the "no argument" marker of the accessors."""

    UNSET = enum.auto()

    def __repr__(self) -> str:
        return "UNSET"


#: Marks "no argument" in accessors such as ``dc_id()``. It is not ``None``, because clients
#: call ``user_id(None)`` and ``is_bot(None)`` to clear a value.
UNSET: Final = Unset.UNSET
