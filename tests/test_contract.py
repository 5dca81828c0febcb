"""vault's own backends and both examples under the public contract suite,
``vault.testing.StorageContract`` (each class runs it plain and wrapped by EncryptedStorage)."""

from __future__ import annotations

from typing import ClassVar

from custom_sqlite_storage import CustomStorage
from redis_storage import RedisStorage

from vault.peers import get_channel_id
from vault.storage import FileStorage, MemoryStorage, MongoStorage, Storage
from vault.testing import StorageContract

from .servers import MongoClients


class TestFileStorage(StorageContract):
    def make_storage(self, name: str) -> Storage:
        return FileStorage(name, workdir=self.tmp_path / "sessions")


class TestFileStorageKurigramLayout(StorageContract):
    """Files in Kurigram's and Irenogram's layout (schema version 7)."""

    def make_storage(self, name: str) -> Storage:
        return FileStorage(name, workdir=self.tmp_path / "sessions", layout="kurigram")


class TestMemoryStorage(StorageContract):
    persistent = False

    def make_storage(self, name: str) -> Storage:
        return MemoryStorage(name)


class TestCustomSQLiteExample(StorageContract):
    """The ``SQLiteStorage`` subclass example, ``examples/custom_sqlite_storage.py``."""

    def make_storage(self, name: str) -> Storage:
        return CustomStorage(name, self.tmp_path / f"{name}.db")


class TestMongoStorage(StorageContract):
    """MongoStorage over each driver (``tests/servers.py``), in the default layout.

    ``remove_peers=True``: the contract's delete() forgets the peer cache too; keeping it by
    default is Mongo's documented difference, tested in ``tests/test_mongo.py``.
    """

    fixtures = ("mongo_clients",)
    driver: ClassVar[str] = "pymongo"

    def make_storage(self, name: str) -> Storage:
        clients: MongoClients = self.fixture("mongo_clients")
        return MongoStorage(
            f"{clients.prefix}{name}", clients.connect(self.driver), remove_peers=True
        )


class TestMongoStorageMotor(TestMongoStorage):
    driver = "motor"


class TestMongoStorageAsyncPymongo(TestMongoStorage):
    driver = "async-pymongo"


class TestMongoStorageSharedDatabase(TestMongoStorage):
    """Every session in one database (``database=``)."""

    def make_storage(self, name: str) -> Storage:
        clients: MongoClients = self.fixture("mongo_clients")
        conn, database = clients.connect(self.driver), f"{clients.prefix}shared"
        return MongoStorage(name, conn, remove_peers=True, database=database)


class TestRedisExample(StorageContract):
    """The custom backend example ``examples/redis_storage.py`` on a real redis-server."""

    fixtures = ("redis_client",)

    def make_storage(self, name: str) -> Storage:
        return RedisStorage(name, self.fixture("redis_client"))


#: Every backend above, for the tests that run something else over all of them.
BACKENDS: tuple[type[StorageContract], ...] = (
    TestFileStorage,
    TestFileStorageKurigramLayout,
    TestMemoryStorage,
    TestCustomSQLiteExample,
    TestMongoStorage,
    TestMongoStorageMotor,
    TestMongoStorageAsyncPymongo,
    TestMongoStorageSharedDatabase,
    TestRedisExample,
)


def test_channel_id_mapping_is_its_own_inverse() -> None:
    assert get_channel_id(-1001234567890) == 1234567890
    assert get_channel_id(1234567890) == -1001234567890
