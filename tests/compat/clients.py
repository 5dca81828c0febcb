"""Which Pyrogram-family client is installed here, and how to drive its own storage classes.

The compatibility tests run once per client, each in its own nox virtual environment (see
``noxfile.py``). There ``VAULT_COMPAT_CLIENT`` names the client that must be present; in the
main test run no client is installed and the compatibility tests are skipped.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Client:
    """One client package, as the compatibility tests need it."""

    #: Short name, as in the nox session ``compat-<name>``.
    name: str
    #: Its distribution on PyPI.
    distribution: str
    #: Its import package.
    package: str
    #: Module and class name of the storage base class its ``Client`` checks, if any.
    storage_base: str
    #: Keyword of ``Client(...)`` that takes a storage object; ``None`` if there is none.
    storage_keyword: str | None
    #: Schema version of the files its own storage writes.
    schema_version: int
    #: Makes the client's file storage: ``(name, workdir) -> storage``.
    file_storage: Callable[[str, Path], Any]
    #: Makes the client's in-memory storage: ``(name, session_string or None) -> storage``.
    memory_storage: Callable[[str, str | None], Any]

    def module(self, name: str) -> Any:
        return importlib.import_module(f"{self.package}.{name}")

    @property
    def version(self) -> str:
        return version(self.distribution)


def _pyrogram_file(name: str, workdir: Path) -> Any:
    return importlib.import_module("pyrogram.storage").FileStorage(name, workdir)


def _pyrogram_memory(name: str, session_string: str | None) -> Any:
    return importlib.import_module("pyrogram.storage").MemoryStorage(name, session_string)


def _sqlite_file(package: str) -> Callable[[str, Path], Any]:
    def make(name: str, workdir: Path) -> Any:
        return importlib.import_module(f"{package}.storage").SQLiteStorage(name, workdir=workdir)

    return make


def _sqlite_memory(package: str, memory_keyword: str) -> Callable[[str, str | None], Any]:
    def make(name: str, session_string: str | None) -> Any:
        storage = importlib.import_module(f"{package}.storage").SQLiteStorage
        # Kurigram wants a workdir even in memory; nothing is written there.
        return storage(name, Path(), session_string=session_string, **{memory_keyword: True})

    return make


CLIENTS = {
    client.name: client
    for client in (
        Client(
            "pyrofork", "pyrofork", "pyrogram", "pyrogram.storage.Storage", "storage", 4,
            _pyrogram_file, _pyrogram_memory,
        ),
        Client(
            "pyrogram", "Pyrogram", "pyrogram", "pyrogram.storage.Storage", None, 3,
            _pyrogram_file, _pyrogram_memory,
        ),
        Client(
            "kurigram", "kurigram", "pyrogram", "pyrogram.storage.Storage", "storage_engine", 7,
            _sqlite_file("pyrogram"), _sqlite_memory("pyrogram", "in_memory"),
        ),
        Client(
            "irenogram", "irenogram", "pyrogram", "pyrogram.storage.Storage", "storage_engine",
            7, _sqlite_file("pyrogram"), _sqlite_memory("pyrogram", "in_memory"),
        ),
        Client(
            "hydrogram", "hydrogram", "hydrogram", "hydrogram.storage.BaseStorage",
            "session_storage_engine", 3, _sqlite_file("hydrogram"),
            _sqlite_memory("hydrogram", "use_memory"),
        ),
    )
}  # fmt: skip


def installed_client() -> Client | None:
    """The client installed in this environment (``None`` if none, or several, are);
    ``VAULT_COMPAT_CLIENT``, if set, must name an installed one."""
    wanted = os.environ.get("VAULT_COMPAT_CLIENT")
    found = []
    for client in CLIENTS.values():
        try:
            version(client.distribution)
        except PackageNotFoundError:
            continue
        found.append(client)
    if wanted is not None:
        match = [client for client in found if client.name == wanted]
        if not match:
            raise RuntimeError(f"VAULT_COMPAT_CLIENT={wanted} but that client is not installed")
        return match[0]
    # Several clients share the pyrogram package: only nox's one-client venvs can tell them apart.
    return found[0] if len(found) == 1 else None


def required_client() -> Client:
    """The installed client; skips the calling test module when there is none (the main test
    run, outside nox)."""
    client = installed_client()
    if client is None:
        import pytest  # noqa: PLC0415 - only test modules call this

        pytest.skip(
            "no single Pyrogram-family client installed; run `nox` for these tests",
            allow_module_level=True,
        )
    return client
