"""pymongo's command log at DEBUG must not show a plaintext auth key that vault reads (to
migrate a plaintext MongoDB session) or writes (``session-vault decrypt``). Real nx-27017
server, each real async driver, the real ``pymongo.command`` logger."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import MongoStorage

from .test_mongo import conn, db_name  # noqa: F401 - the fixtures: a client of each driver

AUTH_KEY = bytes(range(256))


async def test_plaintext_keys_stay_out_of_the_command_log(
    conn: Any,  # noqa: F811
    db_name: Callable[[str], str],  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = db_name("cmdlog")
    with caplog.at_level(logging.DEBUG, logger="pymongo.command"):
        plain = MongoStorage(name, conn)
        await plain.open()
        await plain.auth_key(AUTH_KEY)  # as `session-vault decrypt` writes it back
        await plain.close()
        storage = await EncryptedStorage.encrypt_plaintext(
            MongoStorage(name, conn), passphrase="pw", kdf=CHEAP_KDF
        )
        assert await storage.auth_key() == AUTH_KEY
        await storage.close()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert text.count("<auth_key redacted by session-vault>") >= 3  # written, read, re-sealed
    assert '"dc_id' in text  # other fields are logged as pymongo logs them
    encoded = base64.b64encode(AUTH_KEY).decode()
    for start in range(0, len(encoded) - 16, 16):
        assert encoded[start : start + 16] not in text
