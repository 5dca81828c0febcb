"""Plain (unencrypted) storages must not leak the auth key through their dependencies' logs."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest

from vault.storage import FileStorage, MemoryStorage


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_debug_logs_hold_no_auth_key(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = os.urandom(256)
    caplog.set_level(logging.DEBUG)
    storage = FileStorage("logged", workdir=tmp_path) if kind == "file" else MemoryStorage()
    await storage.open()
    await storage.auth_key(key)
    await storage.user_id(777000)
    assert await storage.auth_key() == key
    text = await storage.export_session_string()
    await storage.close()

    # SQLite work no longer goes through aiosqlite (whose debug log quoted SQL parameters);
    # vault's own records are still checked.
    assert any(r.name.startswith("vault.") for r in caplog.records), "nothing to check"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for shown in (repr(key)[2:60], key.hex(), base64.b64encode(key).decode()[:40], text[:40]):
        assert shown not in logged
