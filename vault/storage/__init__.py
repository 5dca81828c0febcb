"""Session storages for Pyrogram-family clients.

``Storage`` is the contract; ``SQLiteStorage`` holds the SQL; ``FileStorage`` (the default) and
``MemoryStorage`` say where the database lives. ``MongoStorage`` keeps sessions in MongoDB; it is
imported on first use, as it needs a MongoDB driver (the ``mongo`` extra:
``pip install '.[mongo]'`` in a checkout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import compat
from .base import UNSET, Storage
from .file import FileStorage
from .memory import MemoryStorage
from .sqlite import SQLiteStorage

if TYPE_CHECKING:
    from .mongo import MongoStorage

__all__ = ["UNSET", "FileStorage", "MemoryStorage", "MongoStorage", "SQLiteStorage", "Storage"]

# Clients that type-check storage engines must accept vault's, whatever the import order.
compat.install()


def __getattr__(name: str) -> Any:
    if name == "MongoStorage":  # imported on first use: it needs pymongo
        from .mongo import MongoStorage  # noqa: PLC0415

        return MongoStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
