"""What docs/compat.md says about the real clients, checked on the client installed here (see
noxfile.py): which ``Client`` arguments make it drop a vault storage, which clients read the
server address from the storage, and where Hydrogram's ``Client`` can be built."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vault.storage import MemoryStorage

from .clients import required_client

CLIENT = required_client()

#: docs/compat.md: the arguments that make each client ignore its storage argument.
DROPPED_BY = {
    "kurigram": [{"session_string": "x"}, {"in_memory": True}],
    "irenogram": [{"session_string": "x"}, {"in_memory": True}],
    "hydrogram": [{"session_string": "x"}],
}
KEPT_WITH = {"hydrogram": [{"in_memory": True}]}


def build(tmp_path: Path, **extra: Any) -> tuple[Any, MemoryStorage]:
    assert CLIENT.storage_keyword is not None
    storage = MemoryStorage()
    client = importlib.import_module(CLIENT.package).Client(
        "docs", api_id=1, api_hash="0" * 32, workdir=str(tmp_path),
        **{CLIENT.storage_keyword: storage}, **extra,
    )  # fmt: skip
    return client, storage


def no_argument_calls(name: str) -> list[str]:
    """Where the client's own code calls ``<something>.name()`` with no argument (a read)."""
    root = Path(importlib.import_module(CLIENT.package).__file__ or "").parent
    found = []
    for source in sorted(root.rglob("*.py")):
        if "storage" in source.relative_to(root).parts:
            continue  # the client's own storages define the accessors; the callers matter
        for node in ast.walk(ast.parse(source.read_bytes())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == name
                and not node.args
                and not node.keywords
            ):
                found.append(f"{source.relative_to(root)}:{node.lineno}")
    return found


# The clients are built in async tests: Hydrogram's constructor needs a current event loop.
@pytest.mark.parametrize("extra", DROPPED_BY.get(CLIENT.name, []), ids=str)
async def test_these_arguments_make_the_client_drop_a_vault_storage(
    extra: dict[str, Any], tmp_path: Path
) -> None:
    client, storage = build(tmp_path, **extra)
    assert client.storage is not storage
    assert type(client.storage).__module__.startswith(CLIENT.package)


@pytest.mark.parametrize("extra", KEPT_WITH.get(CLIENT.name, []), ids=str)
async def test_the_client_keeps_a_vault_storage_with_these(
    extra: dict[str, Any], tmp_path: Path
) -> None:
    client, storage = build(tmp_path, **extra)
    assert client.storage is storage


@pytest.mark.parametrize("accessor", ["server_address", "port"])
def test_who_reads_the_server_address_from_the_storage(accessor: str) -> None:
    if CLIENT.name not in ("kurigram", "irenogram"):
        pytest.skip("only the version 7 clients have these accessors")
    reads = no_argument_calls(accessor)
    if CLIENT.name == "kurigram":
        assert reads, f"Kurigram no longer reads storage.{accessor}(): fix docs/compat.md"
    else:
        assert not reads, f"Irenogram reads storage.{accessor}() at {reads}: fix docs/compat.md"


HYDROGRAM_CLIENT = """
import asyncio, sys
import hydrogram

if sys.argv[1] == "after asyncio.run":
    asyncio.run(asyncio.sleep(0))  # leaves the thread without a current event loop
try:
    hydrogram.Client("docs", api_id=1, api_hash="0" * 32, in_memory=True)
except RuntimeError:
    print("RuntimeError")
else:
    print("built")
"""


@pytest.mark.parametrize(
    ("when", "outcome"), [("at start", "built"), ("after asyncio.run", "RuntimeError")]
)
def test_where_hydrogram_client_can_be_built(when: str, outcome: str) -> None:
    """Outside a running loop, at a program's start (a fresh interpreter: no test has set or
    cleared its event loop yet), but not once ``asyncio.run()`` has finished in that thread."""
    if CLIENT.name != "hydrogram":
        pytest.skip("a Hydrogram fact")
    done = subprocess.run(
        [sys.executable, "-c", HYDROGRAM_CLIENT, when],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split()[-1] == outcome, done.stderr
