"""FieldStorage: a Storage whose seven session fields go through one method."""

from __future__ import annotations

import abc
from typing import Any

from ._values import refuse_sealed
from .base import Storage
from .values import UNSET, Unset

__all__ = ["FieldStorage"]


class FieldStorage(Storage):
    """A :class:`Storage` that reads and writes every session field through :meth:`_field`.

    A backend that stores the fields alike (columns of one row, keys of one document)
    implements that one method instead of seven accessors. Reading the auth key of an
    encrypted session raises :class:`~vault.errors.SealedAuthKeyError` unless
    :attr:`~Storage.expects_envelopes` is set (by :class:`~vault.EncryptedStorage`).
    """

    @abc.abstractmethod
    async def _field(self, name: str, value: Any) -> Any:
        """Return the session field ``name`` when ``value`` is :data:`UNSET`, else store
        ``value`` (``None`` included) and return ``None``."""

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("dc_id", value)  # type: ignore[no-any-return]

    async def api_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("api_id", value)  # type: ignore[no-any-return]

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("test_mode", value)  # type: ignore[no-any-return]

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        stored = await self._field("auth_key", value)
        if value is UNSET and not self.expects_envelopes:
            refuse_sealed(self.name, stored)
        return stored  # type: ignore[no-any-return]

    async def date(self, value: int | Unset = UNSET) -> int | None:
        return await self._field("date", value)  # type: ignore[no-any-return]

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("user_id", value)  # type: ignore[no-any-return]

    async def is_bot(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._field("is_bot", value)  # type: ignore[no-any-return]
