"""What docs/compat.md says about the real clients, checked on the client installed here (see
noxfile.py): which ``Client`` arguments make it drop a vault storage, which clients read the
server address from the storage, and where Hydrogram's ``Client`` can be built."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import Any

import pytest

from vault.storage import MemoryStorage
from vault.storage.compat import register_clients

from .clients import installed_client

CLIENT = installed_client()
if CLIENT is None:
    pytest.skip(
        "no single Pyrogram-family client installed; run `nox` for these tests",
        allow_module_level=True,
    )
assert CLIENT is not None

#: docs/compat.md: the arguments that make each client ignore its storage argument.
DROPPED_BY = {
    "kurigram": [{"session_string": "x"}, {"in_memory": True}],
    "irenogram": [{"session_string": "x"}, {"in_memory": True}],
    "hydrogram": [{"session_string": "x"}],
}
KEPT_WITH = {"hydrogram": [{"in_memory": True}]}


def build(tmp_path: Path, **extra: Any) -> tuple[Any, MemoryStorage]:
    assert CLIENT is not None and CLIENT.storage_keyword is not None
    register_clients()
    storage = MemoryStorage()
    client = importlib.import_module(CLIENT.package).Client(
        "docs", api_id=1, api_hash="0" * 32, workdir=str(tmp_path),
        **{CLIENT.storage_keyword: storage}, **extra,
    )  # fmt: skip
    return client, storage


def no_argument_calls(name: str) -> list[str]:
    """Where the client's own code calls ``<something>.name()`` with no argument (a read)."""
    assert CLIENT is not None
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


@pytest.mark.parametrize("extra", DROPPED_BY.get(CLIENT.name, []), ids=str)
def test_these_arguments_make_the_client_drop_a_vault_storage(
    extra: dict[str, Any], tmp_path: Path
) -> None:
    client, storage = build(tmp_path, **extra)
    assert client.storage is not storage
    assert type(client.storage).__module__.startswith(CLIENT.package)


@pytest.mark.parametrize("extra", KEPT_WITH.get(CLIENT.name, []), ids=str)
def test_the_client_keeps_a_vault_storage_with_these(extra: dict[str, Any], tmp_path: Path) -> None:
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


def test_hydrogram_client_is_built_outside_a_running_loop(tmp_path: Path) -> None:
    if CLIENT.name != "hydrogram":
        pytest.skip("a Hydrogram fact")
    client, storage = build(tmp_path)  # a plain test function: no event loop is running
    assert client.storage is storage
