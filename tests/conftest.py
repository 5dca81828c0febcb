"""Shared fixtures: the backend registry behind the contract suite, and a movable clock."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

# The examples are tested as shipped: make examples/*.py importable by module name.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from vault.storage import Storage

from .backends import BACKENDS, Backend
from .servers import mongo_clients, mongo_server, redis_client, redis_url  # noqa: F401


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each backend in turn (see ``tests/backends.py``)."""
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
async def storage(backend: Backend) -> AsyncIterator[Storage]:
    """An open, fresh storage of each backend, closed after the test."""
    s = backend.make("contract")
    await s.open()
    try:
        yield s
    finally:
        await s.close()


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
