"""Writing a logged-in session into a storage, as a client does after sign-in."""

from __future__ import annotations

import os

from ..storage import Storage


async def log_in(storage: Storage, *, user_id: int = 777000) -> bytes:
    """Write a logged-in session into the open ``storage`` the way a client does (DC 4,
    ``api_id`` 12345, a random 256-byte auth key); return the auth key."""
    key = os.urandom(256)
    await storage.dc_id(4)
    await storage.api_id(12345)
    await storage.test_mode(False)
    await storage.auth_key(key)
    await storage.user_id(user_id)
    await storage.is_bot(False)
    return key
