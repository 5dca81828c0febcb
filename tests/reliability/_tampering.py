"""Helpers to read, forge and store encrypted values the way an attacker with file access can."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import struct
from pathlib import Path

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage

PASSPHRASE = "correct horse battery staple"
KEY = bytes(range(100, 132))
CHECK_SIZE = 16


def stored_auth_key(database: Path) -> bytes | None:
    """The raw value of the auth key column, read with plain sqlite3."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        (value,) = db.execute("SELECT auth_key FROM sessions").fetchone()
    return value  # type: ignore[no-any-return]


def store_auth_key(database: Path, value: bytes) -> None:
    """Overwrite the auth key column behind vault's back."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("UPDATE sessions SET auth_key = ?", (value,))
        db.commit()


def with_check(body: bytes) -> bytes:
    """``body`` followed by a correct envelope check: what a deliberate attacker writes."""
    return body + hashlib.sha256(body).digest()[:CHECK_SIZE]


def passphrase_costs_offset(envelope: bytes) -> int:
    """Offset of the first passphrase slot's ``time_cost`` (then memory, then parallelism)."""
    at = 4 + 1 + 16
    at += 1 + envelope[at]  # binding
    count, at = envelope[at], at + 1
    for _ in range(count):
        kind, size = struct.unpack_from(">BH", envelope, at)
        if kind == 1:
            return at + 3 + 16
        at += 3 + size
    raise AssertionError("the envelope has no passphrase slot")


def encrypted(name: str, workdir: Path, **kwargs: object) -> EncryptedStorage:
    """An EncryptedStorage on a FileStorage, with the cheap KDF and the test passphrase."""
    options: dict[str, object] = {"passphrase": PASSPHRASE, "kdf": CHEAP_KDF, **kwargs}
    return EncryptedStorage(FileStorage(name, workdir=workdir), **options)  # type: ignore[arg-type]


async def make_session(name: str, workdir: Path, auth_key: bytes, **kwargs: object) -> Path:
    """A closed encrypted session holding ``auth_key``; returns its database path."""
    storage = encrypted(name, workdir, **kwargs)
    await storage.open()
    await storage.auth_key(auth_key)
    await storage.user_id(4242)
    await storage.close()
    return workdir / f"{name}.session"
