"""WrappingStorage: a Storage that passes every call through to an inner storage."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .peers import AnyPeerRow, UsernameRow
from .session_string import encode_session_string
from .storage.base import UNSET, StateRow, Storage, Unset
from .storage.fields import FieldStorage
from .storage.update_states import UpdateStateLike

__all__ = ["WrappingStorage"]


class WrappingStorage(FieldStorage):
    """The base of a storage that wraps another (``inner``): every method calls the inner
    storage's, so a subclass overrides only what it changes (:class:`~vault.EncryptedStorage`
    the auth key and the lifecycle)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(str(getattr(inner, "name", "")))
        self.inner = inner

    async def open(self) -> None:
        await self.inner.open()

    async def save(self) -> None:
        await self.inner.save()

    async def close(self) -> None:
        await self.inner.close()

    async def delete(self) -> None:
        await self.inner.delete()

    async def export_plain_session_string(self) -> str:
        """DANGEROUS: the session as a plain Pyrogram string. Anyone who sees it (a log, shell
        history, a CI output) has the account. Prefer :meth:`export_session_string`."""
        return encode_session_string(await self.session_data())

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        await self.inner.update_peers(peers)

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        await self.inner.update_usernames(usernames)

    async def get_peer_by_id(self, peer_id: int) -> Any:
        return await self.inner.get_peer_by_id(peer_id)

    async def get_peer_by_username(self, username: str) -> Any:
        return await self.inner.get_peer_by_username(username)

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        return await self.inner.get_peer_by_phone_number(phone_number)

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        return await self._field("update_state", value)  # type: ignore[no-any-return]

    async def get_update_states(self, ids: int | Iterable[int] | None = None) -> list[Any]:
        return await self.inner.get_update_states(ids)

    async def set_update_state(
        self, update_state: UpdateStateLike | Iterable[UpdateStateLike]
    ) -> None:
        await self.inner.set_update_state(update_state)

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        await self.inner.delete_update_state(state_id)

    async def server_address(self, value: str | Unset | None = UNSET) -> str | None:
        return await self._field("server_address", value)  # type: ignore[no-any-return]

    async def port(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("port", value)  # type: ignore[no-any-return]

    async def _field(self, name: str, value: Any) -> Any:
        """Every session field but the auth key passes straight through to the inner storage."""
        method = getattr(self.inner, name)
        return await (method() if value is UNSET else method(value))
