"""The installed client accepts vault's storages whatever the import order (issue 12, item 5).

A client that type-checks its storage argument (Kurigram, Irenogram, Hydrogram) silently swaps
a storage it does not recognise for its own unencrypted SQLite file. Each order runs in a fresh
interpreter: which modules were imported, and when, is a property of the whole process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .clients import required_client

CLIENT = required_client()

IMPORT_CLIENT = f"import {CLIENT.package}"
IMPORT_VAULT = "import vault"
MAKE_STORAGE = "storage = vault.FileStorage('order', workdir=WORKDIR)"
MAKE_WRAPPED = (
    "storage = vault.EncryptedStorage(vault.FileStorage('order', workdir=WORKDIR), key=bytes(32))"
)
#: Each order's statements, run in this order before CHECK.
ORDERS = {
    "storage_made_before_client_import": [IMPORT_VAULT, MAKE_STORAGE, IMPORT_CLIENT],
    "wrapped_storage_made_before_client_import": [IMPORT_VAULT, MAKE_WRAPPED, IMPORT_CLIENT],
    "vault_imported_before_client": [IMPORT_VAULT, IMPORT_CLIENT, MAKE_STORAGE],
    "vault_imported_after_client": [IMPORT_CLIENT, IMPORT_VAULT, MAKE_STORAGE],
}

#: The client's type check, and its Client keeping the storage (where it takes one).
CHECK = f"""
import asyncio, importlib, sys
module_name, _, class_name = {CLIENT.storage_base!r}.rpartition(".")
module = importlib.import_module(module_name)
assert isinstance(storage, getattr(module, class_name)), "not a client storage instance"
keyword = {CLIENT.storage_keyword!r}

async def build():
    client = {CLIENT.package}.Client(
        "order", api_id=1, api_hash="0" * 32, workdir=str(WORKDIR), **{{keyword: storage}}
    )
    assert client.storage is storage, f"the client replaced it with {{client.storage!r}}"

if keyword is not None:
    asyncio.run(build())
# The client's storage package keeps its own loader: the hook leaves no trace on it.
assert module.__spec__.loader is module.__loader__
assert not type(module.__loader__).__module__.startswith("vault")
print("accepted")
"""


@pytest.mark.parametrize("order", list(ORDERS))
def test_client_accepts_vault_storage_in_any_import_order(order: str, tmp_path: Path) -> None:
    script = "\n".join(
        ["from pathlib import Path", f"WORKDIR = Path({str(tmp_path)!r})", *ORDERS[order]]
    )
    result = subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(CHECK)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "accepted"
