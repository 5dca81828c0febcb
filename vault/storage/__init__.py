"""Session storages for Pyrogram-family clients.

``Storage`` is the contract; ``SQLiteStorage`` holds the SQL; ``FileStorage`` (the default) and
``MemoryStorage`` say where the database lives.
"""

from __future__ import annotations

from .base import UNSET, Storage
from .file import FileStorage
from .memory import MemoryStorage
from .sqlite import SQLiteStorage

__all__ = ["UNSET", "FileStorage", "MemoryStorage", "SQLiteStorage", "Storage"]
