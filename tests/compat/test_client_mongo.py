"""The real client's sealed peer cache in MongoDB: :func:`resolve_sealed_offline` through
``EncryptedStorage(MongoStorage)`` on the test server, and no username or phone number in any
document. The servers need the dev extra, which the Pyrofork session installs (noxfile.py);
the other client sessions skip this module."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault import EncryptedStorage

servers = pytest.importorskip("tests.servers", reason="the dev extra is not installed")
from vault.storage import MongoStorage  # noqa: E402 - the mongo extra, with the dev extra

from ..peer_cache_helpers import mongo_documents  # noqa: E402
from .test_clients import (  # noqa: E402
    PASSPHRASE,
    SEALED_USERS,
    client_on,
    plain_values_in,
    resolve_sealed_offline,
)

mongo_server, mongo_clients = servers.mongo_server, servers.mongo_clients


async def test_client_resolves_sealed_peers_offline_in_mongodb(
    tmp_path: Path, mongo_clients: servers.MongoClients
) -> None:
    name = f"{mongo_clients.prefix}sealed"
    conn = mongo_clients.connect("pymongo")
    storage = EncryptedStorage(MongoStorage(name, conn), passphrase=PASSPHRASE)
    await storage.open()
    try:
        await resolve_sealed_offline(storage, client_on(storage, "sealed", tmp_path))
    finally:
        await storage.close()
    data = await mongo_documents(conn, name)
    assert len(data) > SEALED_USERS * 40  # the peers are there...
    assert not plain_values_in(data)  # ...as tokens only
