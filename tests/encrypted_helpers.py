"""Helpers shared by the encryption tests: a user-style custom Storage, login, an in-process
keyring, the data key behind an envelope. (Session files: ``tests/tampering.py``.)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from vault.crypto.envelope import Header
from vault.crypto.keyset import Keyset
from vault.crypto.slots import Credentials
from vault.storage import Storage
from vault.testing import log_in

__all__ = ["DictKeyring", "DictStorage", "data_key", "installed_keyring", "log_in"]


class DictStorage(Storage):
    """A custom backend written the way the Pyrogram docs show: ``value=object`` defaults, so
    it must be called with no argument to read. Data lives in a dict shared across objects
    (like a Redis server would be)."""

    def __init__(self, name: str, server: dict[str, dict[str, Any]]) -> None:
        super().__init__(name)
        self.server = server

    @property
    def row(self) -> dict[str, Any]:
        return self.server.setdefault(self.name, {"dc_id": 2, "date": 0})

    async def open(self) -> Any:
        pass

    async def save(self) -> Any:
        pass

    async def close(self) -> Any:
        pass

    async def delete(self) -> Any:
        self.server.pop(self.name, None)

    async def update_peers(self, peers: Iterable[Any]) -> Any:
        for peer in peers:
            self.row.setdefault("peers", {})[peer[0]] = peer

    async def update_usernames(self, usernames: Iterable[Any]) -> Any:
        pass

    async def update_state(self, value: Any = object) -> Any:
        if value is object:
            return sorted(self.row.get("state", {}).values())
        self.row.setdefault("state", {})[value[0]] = value

    async def get_peer_by_id(self, peer_id: int) -> Any:
        return self.row["peers"][peer_id]

    async def get_peer_by_username(self, username: str) -> Any:
        raise KeyError(username)

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        raise KeyError(phone_number)

    def _field(self, name: str, value: Any) -> Any:
        if value is object:
            return self.row.get(name)
        self.row[name] = value
        return None

    async def dc_id(self, value: int = object) -> Any:
        return self._field("dc_id", value)

    async def api_id(self, value: int = object) -> Any:
        return self._field("api_id", value)

    async def test_mode(self, value: bool = object) -> Any:
        return self._field("test_mode", value)

    async def auth_key(self, value: bytes = object) -> Any:
        return self._field("auth_key", value)

    async def date(self, value: int = object) -> Any:
        return self._field("date", value)

    async def user_id(self, value: int = object) -> Any:
        return self._field("user_id", value)

    async def is_bot(self, value: bool = object) -> Any:
        return self._field("is_bot", value)


class DictKeyring(KeyringBackend):
    """A real, working keyring backend that keeps entries in this process."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such entry")


@contextmanager
def installed_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    """``backend`` as the keyring module's backend, the previous one restored after."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def data_key(header: Header, **unlock: Any) -> bytes:
    """The data key that ``unlock`` (``Credentials.from_args`` arguments) unwraps from
    ``header`` (white-box: tests compare it across slot changes and with the vectors)."""
    keyset = Keyset.unlock(header, Credentials.from_args(**unlock))
    try:
        return bytes(keyset._live_dek())
    finally:
        keyset.wipe()
