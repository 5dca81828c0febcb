"""Shared fixtures: a movable clock, an in-process keyring, and a guard against storages left
open."""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosqlite
import pytest

# The examples are tested as shipped: make examples/*.py importable by module name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from vault.storage import Storage

from .encrypted_helpers import DictKeyring, installed_keyring
from .leak_watch import (  # noqa: F401 - hooks, found by name
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)
from .servers import mongo_clients, mongo_server, redis_client, redis_url  # noqa: F401

#: ``pytester`` runs the contract suite in a sub-run (tests/test_storage_contract.py).
pytest_plugins = ("pytester",)


@pytest.fixture
def dict_keyring() -> Iterator[DictKeyring]:
    """An in-process keyring backend (a real ``KeyringBackend``), installed for the test."""
    with installed_keyring(DictKeyring()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move every storage's clock forward: ``clock(seconds)``."""
    offset = 0.0

    def now(self: Storage) -> int:
        return int(time.time() + offset)

    def advance(seconds: float) -> None:
        nonlocal offset
        offset += seconds

    monkeypatch.setattr(Storage, "_now", now)
    return advance


def _sqlite_threads() -> set[threading.Thread]:
    """aiosqlite's connection threads and vault's own writer threads."""
    return {
        t
        for t in threading.enumerate()
        if getattr(getattr(t, "_target", None), "__name__", "") == "_connection_worker_thread"
        or t.name.startswith("vault-sqlite-writer-")
    }


@pytest.fixture(autouse=True)
def no_connection_left_open() -> Iterator[None]:
    """Fail a test that leaves a database connection open (vault's writer thread or an
    aiosqlite one), and stop aiosqlite's: a live one would hang the interpreter at exit."""
    before = _sqlite_threads()
    yield
    new = _sqlite_threads() - before
    for thread in new:
        thread.join(timeout=1)  # a connection closed just now may still be winding down
    if any(t.is_alive() for t in new):
        # stop() is public and harmless on a connection that is already closed.
        for connection in [c for c in gc.get_objects() if isinstance(c, aiosqlite.Connection)]:
            connection.stop()
        pytest.fail(f"the test left {len(new)} database connection(s) open; close them")
