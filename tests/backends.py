"""The backends the contract suite runs over.

Each entry makes unopened storages for one backend. To put a new backend under the contract
suite, add a factory to ``BACKENDS``; never copy the contract tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from custom_sqlite_storage import CustomStorage
from redis_storage import RedisStorage

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage, MemoryStorage, MongoStorage, Storage


@dataclass
class Backend:
    """How to make storages of one backend inside one test."""

    #: Make an unopened storage for the session ``name``; the same name reaches the same data
    #: when ``persistent``.
    make: Callable[[str], Storage]
    #: Whether data survives ``close()`` and a new storage object of the same name.
    persistent: bool = True


def _file(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(lambda name: FileStorage(name, workdir=tmp_path / "sessions"))


def _file_kurigram(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Files in Kurigram's and Irenogram's layout (schema version 7)."""
    return Backend(lambda name: FileStorage(name, workdir=tmp_path / "sessions", layout="kurigram"))


def _memory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(MemoryStorage, persistent=False)


def _custom_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(lambda name: CustomStorage(name, tmp_path / f"{name}.db"))


def _encrypted_file(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(
        lambda name: EncryptedStorage(
            FileStorage(name, workdir=tmp_path / "sessions"), passphrase="pw", kdf=CHEAP_KDF
        )
    )


def _encrypted_file_kurigram(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(
        lambda name: EncryptedStorage(
            FileStorage(name, workdir=tmp_path / "sessions", layout="kurigram"),
            passphrase="pw",
            kdf=CHEAP_KDF,
        )
    )


def _encrypted_memory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return Backend(
        lambda name: EncryptedStorage(MemoryStorage(name), key=bytes(32), kdf=CHEAP_KDF),
        persistent=False,
    )


def _mongo(driver: str, *, shared: bool = False, encrypted: bool = False) -> BackendFactory:
    """MongoStorage over ``driver`` (``tests/servers.py``), in the default or shared layout.

    ``remove_peers=True``: the contract's delete() forgets the peer cache too; keeping it by
    default is Mongo's documented difference, tested in ``tests/test_mongo.py``.
    """

    def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
        clients = request.getfixturevalue("mongo_clients")
        conn, prefix = clients.connect(driver), clients.prefix

        def make(name: str) -> Storage:
            if shared:
                inner = MongoStorage(name, conn, remove_peers=True, database=f"{prefix}shared")
            else:
                inner = MongoStorage(f"{prefix}{name}", conn, remove_peers=True)
            if encrypted:
                return EncryptedStorage(inner, passphrase="pw", kdf=CHEAP_KDF)
            return inner

        return Backend(make)

    return factory


def _redis(*, encrypted: bool = False) -> BackendFactory:
    """The custom backend example ``examples/redis_storage.py`` on a real redis-server."""

    def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
        client = request.getfixturevalue("redis_client")

        def make(name: str) -> Storage:
            inner = RedisStorage(name, client)
            if encrypted:
                return EncryptedStorage(inner, passphrase="pw", kdf=CHEAP_KDF)
            return inner

        return Backend(make)

    return factory


BackendFactory = Callable[[pytest.FixtureRequest, Path], Backend]

BACKENDS: dict[str, BackendFactory] = {
    "file": _file,
    "file-kurigram": _file_kurigram,
    "memory": _memory,
    "custom-sqlite": _custom_sqlite,
    "encrypted-file": _encrypted_file,
    "encrypted-file-kurigram": _encrypted_file_kurigram,
    "encrypted-memory": _encrypted_memory,
    "mongo-pymongo": _mongo("pymongo"),
    "mongo-motor": _mongo("motor"),
    "mongo-async-pymongo": _mongo("async-pymongo"),
    "mongo-pymongo-shared": _mongo("pymongo", shared=True),
    "encrypted-mongo": _mongo("pymongo", encrypted=True),
    "redis-example": _redis(),
    "encrypted-redis-example": _redis(encrypted=True),
}
