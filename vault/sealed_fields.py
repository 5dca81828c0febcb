"""SealedFieldMethods: what a wrapper passes through its
:class:`~vault.auth_key_field.SealedAuthKey`: the auth key (sealed before the inner storage
sees it), the identity fields its envelope binds (``dc_id``, ``test_mode``, ``user_id``) and
session strings (sealed and opened under the same vault)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth_key_field import SealedAuthKey
from .crypto.envelope import Envelope
from .crypto.strings import open_session, parse_any_string, seal_session
from .session_string import SessionData
from .storage.base import UNSET, Unset

__all__ = ["SealedFieldMethods"]


class SealedFieldMethods:
    """Mixed into a wrapper whose :meth:`_open` gives its :class:`SealedAuthKey`."""

    def _open(self) -> SealedAuthKey:
        raise NotImplementedError

    if TYPE_CHECKING:  # Storage's, later in the wrapper's bases

        async def session_data(self) -> SessionData: ...

        async def load_session_data(self, data: SessionData) -> None: ...

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        """The auth key, decrypted on read and sealed before it reaches the inner storage."""
        field = self._open()
        if value is UNSET:
            return await field.read_settled()
        async with field.lock:
            await field.write(value)
        return None

    # dc_id, test_mode and user_id are bound to the sealed key: see SealedAuthKey.

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        return await self._identity("dc_id", value)  # type: ignore[no-any-return]

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._identity("test_mode", value)  # type: ignore[no-any-return]

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._identity("user_id", value)  # type: ignore[no-any-return]

    async def _identity(self, name: str, value: Any) -> Any:
        field = self._open()
        if value is UNSET:
            return await field.read_identity(name)
        await field.write_identity(name, value)
        return None

    async def export_session_string(self) -> str:
        """The session as an encrypted string (``vault1:...``) opening with the same slots."""
        return seal_session(self._open().sealer.keyset, await self.session_data())

    async def import_session_string(self, session_string: str) -> None:
        """Load a plain string, or an encrypted one under this vault's current data key."""
        data = parse_any_string(session_string)
        if isinstance(data, Envelope):
            data = open_session(self._open().sealer.keyset, data)
        await self.load_session_data(data)
