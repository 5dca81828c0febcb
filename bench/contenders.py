"""The storages under test, each made fresh for every run in its own directory."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault import EncryptedStorage
from vault.crypto import DEFAULT_KDF
from vault.storage import FileStorage, MemoryStorage

from .raw import RawSQLite

PASSPHRASE = "correct horse battery staple"
RAW_KEY = bytes(range(32))


@dataclass(frozen=True)
class Contender:
    """``make(workdir, name)`` returns an unopened storage."""

    name: str
    make: Callable[[Path, str], Any]
    #: The contender whose ratio this one is compared with ("" for none).
    rival: str = ""
    #: Data survives close() and a new object of the same name.
    persistent: bool = True
    #: Only the peer and update-state workloads apply (the raw sqlite3 baseline).
    peers_only: bool = False


def _pyrofork() -> Any:
    if importlib.util.find_spec("pyrogram") is None:
        raise SystemExit("Pyrofork is not installed: pip install -e '.[bench]'")
    from pyrogram import storage  # noqa: PLC0415 - optional, and slow to import

    return storage


def contenders() -> list[Contender]:
    pyro = _pyrofork()
    return [
        Contender("vault File", lambda d, n: FileStorage(n, workdir=d), rival="Pyrofork File"),
        Contender(
            "vault Encrypted(File)",
            lambda d, n: EncryptedStorage(
                FileStorage(n, workdir=d), passphrase=PASSPHRASE, kdf=DEFAULT_KDF
            ),
            rival="Pyrofork File",
        ),
        Contender(
            "vault Encrypted(File), plain peers",
            lambda d, n: EncryptedStorage(
                FileStorage(n, workdir=d), passphrase=PASSPHRASE, kdf=DEFAULT_KDF, seal_peers=False
            ),
            rival="vault Encrypted(File)",
        ),
        Contender(
            "vault Memory", lambda d, n: MemoryStorage(n), rival="Pyrofork Memory", persistent=False
        ),
        Contender("Pyrofork File", lambda d, n: pyro.FileStorage(n, workdir=d)),
        Contender("Pyrofork Memory", lambda d, n: pyro.MemoryStorage(n), persistent=False),
        Contender("raw sqlite3", lambda d, n: RawSQLite(n, d), peers_only=True),
    ]


def memory_contenders() -> list[Contender]:
    """The contenders of the memory measurement: all of the others, and the encrypted file
    unlocked by a raw key, which shows the storage's own memory without Argon2id's."""
    return [
        *contenders(),
        Contender(
            "vault Encrypted(File), raw-key slot",
            lambda d, n: EncryptedStorage(FileStorage(n, workdir=d), key=RAW_KEY),
            rival="Pyrofork File",
        ),
    ]
