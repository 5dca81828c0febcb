"""The one lifecycle of every storage: new, then open, then closed.

:class:`~vault.storage.Storage` wraps the ``open()``, ``close()`` and ``delete()`` of every
subclass (vault's and third-party ones alike) with the state machine here, so a backend only
writes what opening and closing mean for its medium:

* ``open()`` on a new storage runs the backend's ``open()``; if it raises, the storage stays
  new and ``open()`` may be tried again. ``open()`` on an open storage raises
  :class:`~vault.errors.StorageStateError`, on a closed one
  :class:`~vault.errors.StorageClosedError`.
* ``close()`` on an open storage runs the backend's ``close()`` and the storage is closed
  for good (create a new object to open the session again); closing twice, or before
  ``open()``, does nothing.
* A lifecycle call made from inside another one on the same storage and task (a
  ``super().open()``, the ``close()`` a failed ``open()`` or a ``delete()`` makes) passes
  straight through to the backend's method; a ``close()`` of an open storage still closes it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from ..errors import StorageClosedError, StorageNotOpenError, StorageStateError

__all__ = ["CLOSED", "NEW", "OPEN", "check_can_open", "check_open", "wrap"]

NEW: Final = "new"
OPEN: Final = "open"
CLOSED: Final = "closed"

#: Set on a wrapped method, so that it is never wrapped twice.
_WRAPPED: Final = "__vault_lifecycle__"

Method = Callable[[Any], Awaitable[None]]


def _nested(storage: Any) -> bool:
    task = storage._lifecycle_task
    return task is not None and task is asyncio.current_task()


@contextmanager
def _running(storage: Any) -> Iterator[None]:
    storage._lifecycle_task = asyncio.current_task()
    try:
        yield
    finally:
        storage._lifecycle_task = None


def check_can_open(storage: Any) -> None:
    """Raise if ``open()`` was already called on ``storage``."""
    if storage._lifecycle_state == CLOSED:
        raise StorageClosedError(
            f"{storage!r} was closed; create a new storage object to open the session again"
        )
    if storage._lifecycle_state == OPEN or (
        storage._lifecycle_task is not None and not _nested(storage)
    ):
        raise StorageStateError(f"{storage!r} is already open; open() it only once")


def check_open(storage: Any) -> None:
    """Raise unless ``storage`` is open (or being opened or deleted by the calling task)."""
    state = storage._lifecycle_state
    if state == OPEN or _nested(storage):
        return
    if state == CLOSED:
        raise StorageClosedError(
            f"{storage!r} is closed; create a new storage object to use the session again"
        )
    raise StorageNotOpenError(f"{storage!r} is not open; await open() first")


def _open(method: Method) -> Method:
    @functools.wraps(method)
    async def open(self: Any) -> None:
        if _nested(self):
            return await method(self)
        check_can_open(self)
        with _running(self):
            await method(self)
        self._lifecycle_state = OPEN

    return open


def _close(method: Method) -> Method:
    @functools.wraps(method)
    async def close(self: Any) -> None:
        was_open = self._lifecycle_state == OPEN
        if not (was_open or _nested(self)):
            return  # closing twice, or before open(), does nothing
        try:
            if _nested(self):
                await method(self)
            else:
                with _running(self):
                    await method(self)
        finally:
            if was_open:
                self._lifecycle_state = CLOSED

    return close


def _delete(method: Method) -> Method:
    @functools.wraps(method)
    async def delete(self: Any) -> None:
        if _nested(self):
            return await method(self)
        with _running(self):
            await method(self)

    return delete


_WRAPPERS: Final = {"open": _open, "close": _close, "delete": _delete}


def wrap(cls: type) -> None:
    """Put the state machine around the lifecycle methods ``cls`` itself defines."""
    for name, wrapper in _WRAPPERS.items():
        method = cls.__dict__.get(name)
        if callable(method) and not getattr(method, _WRAPPED, False):
            wrapped = wrapper(method)
            setattr(wrapped, _WRAPPED, True)
            setattr(cls, name, wrapped)
