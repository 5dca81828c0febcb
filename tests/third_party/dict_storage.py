"""A third-party backend written only from docs/custom-backend.md: sessions in a plain dict.

The dict stands for a server (one dict, many sessions by name); ``tests/third_party`` checks
it passes ``vault.testing.StorageContract``, and that broken variants of it fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vault.errors import StorageClosedError, StorageNotOpenError, StorageStateError
from vault.peers import AnyPeerRow, UsernameRow, full_peer_rows, get_input_peer, usernames_by_peer
from vault.storage import UNSET, Storage
from vault.storage.base import StateRow, Unset

Server = dict[str, dict[str, Any]]


class DictStorage(Storage):
    """One session in ``server[name]``: ``fields``, ``peers`` (id -> [access_hash, type,
    username, phone, time]), ``usernames`` (extra username -> [peer_id, time]), ``state``."""

    def __init__(self, name: str, server: Server) -> None:
        super().__init__(name)
        self.server = server
        self._state = "new"

    @property
    def _data(self) -> dict[str, Any]:
        return self.server[self.name]

    def _check(self) -> None:
        if self._state == "new":
            raise StorageNotOpenError(f"session {self.name!r}: call open() first")
        if self._state == "closed":
            raise StorageClosedError(f"session {self.name!r} is closed; make a new storage")

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        if self._state == "closed":
            raise StorageClosedError(f"session {self.name!r} is closed; make a new storage")
        if self._state == "open":
            raise StorageStateError(f"session {self.name!r} is already open")
        self.server.setdefault(
            self.name,
            {"fields": {"dc_id": 2, "date": 0}, "peers": {}, "usernames": {}, "state": {}},
        )
        self._state = "open"

    async def save(self) -> None:
        self._check()
        self._data["fields"]["date"] = self._now()

    async def close(self) -> None:
        if self._state == "open":
            self._state = "closed"

    async def delete(self) -> None:
        await self.close()
        self.server.pop(self.name, None)

    # --- session fields ------------------------------------------------------------------------

    async def _field(self, field: str, value: Any) -> Any:
        self._check()
        fields = self._data["fields"]
        if value is UNSET:
            return fields.get(field)
        if value is None:
            fields.pop(field, None)
        else:
            fields[field] = value
        return None

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("dc_id", value)  # type: ignore[no-any-return]

    async def api_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("api_id", value)  # type: ignore[no-any-return]

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("test_mode", value)  # type: ignore[no-any-return]

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        return await self._field("auth_key", value)  # type: ignore[no-any-return]

    async def date(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("date", value)  # type: ignore[no-any-return]

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("user_id", value)  # type: ignore[no-any-return]

    async def is_bot(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("is_bot", value)  # type: ignore[no-any-return]

    # --- peer cache ----------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        self._check()
        now = self._now()
        for peer_id, access_hash, peer_type, username, phone in full_peer_rows(peers):
            self._data["peers"][peer_id] = [access_hash, peer_type, username, phone, now]

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        self._check()
        now, extra = self._now(), self._data["usernames"]
        for peer_id, names in usernames_by_peer(usernames).items():
            for old in [u for u, (owner, _) in extra.items() if owner == peer_id]:
                del extra[old]
            for username in names:
                extra[username] = [peer_id, now]

    def _input_peer(self, peer_id: int) -> Any:
        access_hash, peer_type, *_ = self._data["peers"][peer_id]
        return get_input_peer(peer_id, access_hash, peer_type)

    def _fresh(self, stored_at: int) -> bool:
        return self._now() - stored_at <= self.USERNAME_TTL

    async def get_peer_by_id(self, peer_id: int) -> Any:
        self._check()
        return self._input_peer(peer_id)  # KeyError when not cached

    async def get_peer_by_username(self, username: str) -> Any:
        self._check()
        peers = self._data["peers"]
        for peer_id, (_, _, own, _, stored_at) in peers.items():
            if own == username and self._fresh(stored_at):
                return self._input_peer(peer_id)
        peer_id, stored_at = self._data["usernames"].get(username, (None, 0))
        if peer_id in peers and self._fresh(stored_at):
            return self._input_peer(peer_id)
        raise KeyError(username)

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        self._check()
        for peer_id, (_, _, _, phone, _) in self._data["peers"].items():
            if phone == phone_number:
                return self._input_peer(peer_id)
        raise KeyError(phone_number)

    # --- update state --------------------------------------------------------------------------

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        self._check()
        state = self._data["state"]
        if value is UNSET:
            return [(chat_id, *row) for chat_id, row in state.items()]
        if isinstance(value, int):
            state.pop(value, None)
        else:
            state[value[0]] = value[1:]
        return None
