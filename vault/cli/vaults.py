"""Opening encrypted session files for one command, and checking a copy before it replaces
the original."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ..encrypted import EncryptedStorage
from ..storage import Storage
from .exits import CliError, Exit
from .sessionfile import SessionFile

__all__ = ["check_same_key", "opened", "opened_vault"]


@asynccontextmanager
async def opened(storage: Storage) -> AsyncIterator[Storage]:
    """``storage``, opened for the ``async with`` block and closed after it."""
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def opened_vault(
    inner: Storage, *, encrypt_plaintext: bool = False, **kwargs: Any
) -> AsyncIterator[EncryptedStorage]:
    """An :class:`~vault.EncryptedStorage` over ``inner``, opened for the block; with
    ``encrypt_plaintext``, made by :meth:`~vault.EncryptedStorage.encrypt_plaintext`."""
    if encrypt_plaintext:
        storage = await EncryptedStorage.encrypt_plaintext(inner, **kwargs)
    else:
        storage = EncryptedStorage(inner, **kwargs)
        await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


async def check_same_key(temp: Path, name: str, expected: bytes, **kwargs: Any) -> None:
    """Open the copy ``temp`` (encrypted when ``kwargs`` carry credentials) and check that it
    yields the ``expected`` auth key."""
    inner = SessionFile(temp, name)
    if kwargs:
        async with opened_vault(inner, **kwargs) as storage:
            key = await storage.auth_key()
    else:
        async with opened(inner) as plain:
            key = await plain.auth_key()
    if key != expected:
        raise CliError(
            Exit.INTERNAL,
            "the new copy did not give back the same auth key; the original file was left "
            "unchanged (please report this)",
        )
