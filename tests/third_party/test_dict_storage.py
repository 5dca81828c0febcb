"""The docs-only third-party backend under the public contract suite, as its author would run it."""

from __future__ import annotations

import pytest

from vault.storage import Storage
from vault.testing import StorageContract

from .dict_storage import DictStorage, Server


@pytest.fixture
def server() -> Server:
    """One "server" per test: storages of the same name reach the same data."""
    return {}


class TestDictStorage(StorageContract):
    fixtures = ("server",)

    def make_storage(self, name: str) -> Storage:
        return DictStorage(name, self.fixture("server"))
