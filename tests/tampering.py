"""Session files as an attacker with file access sees them: hashing, reading and overwriting
the stored auth key behind vault's back, forging an envelope check; and the encrypted file
sessions the tests tamper with."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import struct
from pathlib import Path
from typing import Any

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.crypto.identity import IDENTITY_SIZE
from vault.storage import FileStorage
from vault.testing import log_in

PASSPHRASE = "correct horse battery staple"
SIDE_SUFFIXES = ("", "-wal", "-shm", "-journal")
CHECK_SIZE = 16


def session_path(workdir: Path, name: str = "my_account") -> Path:
    return workdir / f"{name}.session"


def encrypted_file(workdir: Path, name: str = "my_account", **kwargs: Any) -> EncryptedStorage:
    """An EncryptedStorage on a FileStorage, with the cheap KDF and (unless ``kwargs`` says
    otherwise) the test passphrase."""
    kwargs.setdefault("passphrase", PASSPHRASE)
    return EncryptedStorage(FileStorage(name, workdir=workdir), kdf=CHEAP_KDF, **kwargs)


async def make_session(
    workdir: Path, name: str = "my_account", *, auth_key: bytes | None = None, **kwargs: Any
) -> bytes:
    """A logged-in encrypted file session (``auth_key``, or a random one), closed; returns its
    auth key. ``kwargs`` go to :func:`encrypted_file`."""
    storage = encrypted_file(workdir, name, **kwargs)
    await storage.open()
    key = await log_in(storage)
    if auth_key is not None:
        await storage.auth_key(auth_key)
        key = auth_key
    await storage.close()
    return key


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes ("" if it does not exist)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return ""


def session_files(database: Path) -> dict[str, str]:
    """Hashes of a session file and its SQLite side files, by suffix."""
    return {suffix: digest(Path(f"{database}{suffix}")) for suffix in SIDE_SUFFIXES}


def files_of(database: Path) -> list[Path]:
    """A session file and whichever of its side files exist."""
    return [p for p in (Path(f"{database}{s}") for s in SIDE_SUFFIXES) if p.exists()]


def raw_bytes(database: Path) -> bytes:
    """Every byte of a session file and its side files."""
    return b"".join(p.read_bytes() for p in files_of(database))


def stored_auth_key(database: Path) -> bytes | None:
    """The raw value of the auth key column, read with plain sqlite3."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        (value,) = db.execute("SELECT auth_key FROM sessions").fetchone()
    return value  # type: ignore[no-any-return]


def store_auth_key(database: Path, value: bytes | None) -> None:
    """Overwrite the auth key column behind vault's back."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("UPDATE sessions SET auth_key = ?", (value,))
        db.commit()


def with_check(body: bytes) -> bytes:
    """``body`` followed by a correct envelope check: what a deliberate attacker writes."""
    return body + hashlib.sha256(body).digest()[:CHECK_SIZE]


def variants(envelope: bytes) -> dict[str, list[bytes]]:
    """Every single-bit flip (one per byte), every flip with the check recomputed, every
    truncation of ``envelope``, by kind."""
    body_size = len(envelope) - CHECK_SIZE
    flips = []
    for at in range(len(envelope)):
        changed = bytearray(envelope)
        changed[at] ^= 1 << (at % 8)
        flips.append(bytes(changed))
    return {
        "flip": flips,
        "flip_rechecked": [with_check(flipped[:body_size]) for flipped in flips[:body_size]],
        "truncate": [envelope[:size] for size in range(len(envelope))],
    }


def slot_count_offset(envelope: bytes) -> int:
    """Offset of the header's slot count: after the binding and (version 2) the identity."""
    at = 4 + 1 + 16
    at += 1 + envelope[at]  # binding
    return at + (IDENTITY_SIZE if envelope[4] >= 2 else 0)


def passphrase_costs_offset(envelope: bytes) -> int:
    """Offset of the first passphrase slot's ``time_cost`` (then memory, then parallelism)."""
    at = slot_count_offset(envelope)
    count, at = envelope[at], at + 1
    for _ in range(count):
        kind, size = struct.unpack_from(">BH", envelope, at)
        if kind == 1:
            return at + 3 + 16
        at += 3 + size
    raise AssertionError("the envelope has no passphrase slot")


def leave_stale_copy(path: Path, table: str = "sessions") -> None:
    """Leave a copy of ``table``'s rows in free pages of the database ``path``, as an earlier
    rewrite may: a table that held them, dropped by a SQLite built without secure_delete
    (Debian's zeroes freed pages)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute(f"CREATE TABLE stale_{table} AS SELECT * FROM {table}")
        conn.execute(f"DROP TABLE stale_{table}")
