"""A program that raises while a storage is open still exits: nothing vault starts (a writer
thread, a connection) keeps the interpreter alive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, sys
from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage, MemoryStorage

async def main(kind: str, workdir: str) -> None:
    if kind == "memory":
        storage = MemoryStorage()
    elif kind == "file":
        storage = FileStorage("left-open", workdir=workdir)
    else:
        storage = EncryptedStorage(
            FileStorage("left-open", workdir=workdir), passphrase="pw", kdf=CHEAP_KDF
        )
    await storage.open()
    await storage.update_peers([(1, 2, "user", "alice", None)])
    await storage.dc_id(2)
    raise RuntimeError("the program failed with its storage open")

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("kind", ["file", "encrypted", "memory"])
def test_a_program_that_raises_with_a_storage_open_exits(tmp_path: Path, kind: str) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, kind, str(tmp_path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:  # run() has killed the hanging process
        pytest.fail(f"the program with an open {kind} storage did not exit")
    assert done.returncode == 1
    assert "the program failed with its storage open" in done.stderr
