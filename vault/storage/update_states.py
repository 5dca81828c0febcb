"""Kurigram's update-state records, on top of the contract's ``(id, pts, qts, date, seq)`` rows.

Kurigram replaced ``update_state()`` with ``get_update_states()``, ``set_update_state()`` and
``delete_update_state()``, which take and return ``UpdateState`` objects. vault returns
Kurigram's own class when its ``pyrogram.storage`` is loaded (a Kurigram client always has it),
else :class:`UpdateState` here, which has the same fields.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from .values import StateRow

__all__ = [
    "UpdateState",
    "UpdateStateLike",
    "as_states",
    "merge_state",
    "select_states",
    "state_ids",
]


class UpdateStateLike(Protocol):
    """Anything with the five fields of an update state (Kurigram's ``UpdateState``, vault's)."""

    @property
    def id(self) -> int: ...
    @property
    def pts(self) -> int | None: ...
    @property
    def qts(self) -> int | None: ...
    @property
    def date(self) -> int | None: ...
    @property
    def seq(self) -> int | None: ...


@dataclass(frozen=True)
class UpdateState:
    """One update state, as ``get_update_states()`` returns it without Kurigram loaded."""

    id: int
    pts: int | None
    qts: int | None
    date: int | None
    seq: int | None


def _state_class() -> Any:
    loaded = sys.modules.get("pyrogram.storage")
    return getattr(loaded, "UpdateState", UpdateState)


def as_states(value: UpdateStateLike | Iterable[UpdateStateLike]) -> list[UpdateStateLike]:
    """One state or several, as a list."""
    if isinstance(value, Iterable) and not hasattr(value, "pts"):  # a named tuple is one state
        return list(value)
    return [cast("UpdateStateLike", value)]


def state_ids(ids: int | Iterable[int]) -> set[int]:
    """One id or several, as a set."""
    return {ids} if isinstance(ids, int) else set(ids)


def merge_state(old: StateRow | None, new: UpdateStateLike) -> StateRow:
    """The row ``new`` leaves behind: its fields that are ``None`` keep ``old``'s values, as
    Kurigram's own storage does."""
    given = (new.pts, new.qts, new.date, new.seq)
    kept = (None, None, None, None) if old is None else old[1:]
    pts, qts, date, seq = (g if g is not None else k for g, k in zip(given, kept, strict=True))
    return (new.id, pts, qts, date, seq)


def select_states(rows: Iterable[StateRow], ids: int | Iterable[int] | None) -> list[Any]:
    """The rows whose id is in ``ids`` (all if ``None``) as update-state objects, oldest
    ``date`` first (rows without a date before the others), as Kurigram orders them."""
    wanted = None if ids is None else state_ids(ids)
    cls = _state_class()
    chosen = [row for row in rows if wanted is None or row[0] in wanted]
    chosen.sort(key=lambda row: (row[3] is not None, row[3] or 0, row[0]))
    return [cls(*row) for row in chosen]
