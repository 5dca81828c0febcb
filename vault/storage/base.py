"""The abstract storage contract that Pyrogram-family clients call."""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, ClassVar

from ..errors import InvalidSessionString
from ..peers import AnyPeerRow, UsernameRow
from ..session_string import (
    OLD_SESSION_STRING_FORMAT,
    OLD_SESSION_STRING_FORMAT_64,
    SESSION_STRING_FORMAT,
    SessionData,
    decode_session_string,
    encode_session_string,
)
from . import lifecycle
from .datacenters import public_address
from .update_states import UpdateStateLike, as_states, merge_state, select_states, state_ids
from .values import UNSET, StateRow, Unset

__all__ = ["UNSET", "StateRow", "Storage", "Unset"]


class Storage(abc.ABC):
    """What every session storage offers: lifecycle, session fields, peer cache, update state.

    Every method is a coroutine. The session fields (``dc_id``, ``api_id``, ``test_mode``,
    ``auth_key``, ``date``, ``user_id``, ``is_bot``) are read with no argument and written with
    one: ``await s.dc_id()`` reads, ``await s.dc_id(4)`` writes, ``await s.user_id(None)`` clears.

    Peer lookups raise :class:`KeyError` when the peer is not cached (or its username is older
    than :attr:`USERNAME_TTL` seconds): clients rely on that.

    Subclass it to write a backend; implement every abstract method. Session string export and
    import are provided here on top of the accessors.

    The lifecycle is this class's: a storage is new, then open, then closed (see
    :mod:`vault.storage.lifecycle`). The ``open()``, ``close()`` and ``delete()`` a subclass
    writes are wrapped so that ``open()`` twice raises
    :class:`~vault.errors.StorageStateError`, ``open()`` after ``close()``
    :class:`~vault.errors.StorageClosedError`, a failed ``open()`` may be retried, and
    closing twice or before ``open()`` does nothing; a backend's accessors call
    :meth:`_check_open` to raise :class:`~vault.errors.StorageNotOpenError` or
    :class:`~vault.errors.StorageClosedError`. ``async with storage:`` opens and closes it.
    """

    # The lifecycle state (class defaults: a subclass need not call __init__ for them).
    _lifecycle_state: str = lifecycle.NEW
    _lifecycle_task: asyncio.Task[Any] | None = None

    # The Pyrogram-family names of the string formats, for code that reads them off a storage.
    SESSION_STRING_FORMAT: ClassVar[str] = SESSION_STRING_FORMAT
    OLD_SESSION_STRING_FORMAT: ClassVar[str] = OLD_SESSION_STRING_FORMAT
    OLD_SESSION_STRING_FORMAT_64: ClassVar[str] = OLD_SESSION_STRING_FORMAT_64
    SESSION_STRING_SIZE: ClassVar[int] = 351
    SESSION_STRING_SIZE_64: ClassVar[int] = 356

    #: Seconds after which a cached username no longer resolves (Telegram usernames move).
    USERNAME_TTL: ClassVar[int] = 8 * 60 * 60

    #: Whether the reader of :meth:`auth_key` opens sealed envelopes itself. While it is
    #: false, vault's backends refuse to return one (:class:`~vault.errors.SealedAuthKeyError`,
    #: "wrap it in EncryptedStorage") instead of handing a client an envelope as if it were
    #: the key. :class:`~vault.EncryptedStorage` sets it on the storage it wraps; a tool that
    #: inspects stored envelopes without opening them may set it too.
    expects_envelopes: bool = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        lifecycle.wrap(cls)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _now(self) -> int:
        """The current time in whole seconds; one place, so tests can move the clock."""
        return int(time.time())

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Storage:
        """``async with storage:`` opens the storage and closes it at the end of the block."""
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        """Whether ``open()`` succeeded and ``close()`` has not been called since."""
        return self._lifecycle_state == lifecycle.OPEN

    def _check_open(self) -> None:
        """Raise :class:`~vault.errors.StorageNotOpenError` before ``open()`` and
        :class:`~vault.errors.StorageClosedError` after ``close()``; accessors call it. Calls
        made while this task opens or deletes the storage pass."""
        if self._lifecycle_state != lifecycle.OPEN:
            lifecycle.check_open(self)

    def _check_can_open(self) -> None:
        """Raise if ``open()`` was already called on this object (``open()`` checks it
        itself; kept for subclasses that call it)."""
        lifecycle.check_can_open(self)

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the storage, creating or migrating it as needed."""

    @abc.abstractmethod
    async def save(self) -> None:
        """Make everything written so far durable and record the save ``date``."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the storage. Closing twice, or before ``open()``, does nothing."""

    @abc.abstractmethod
    async def delete(self) -> None:
        """Remove the stored session for good (clients call it on log-out)."""

    async def purge_stale_copies(self) -> None:
        """Best effort: drop stale copies of overwritten data that the medium keeps (journals,
        write-ahead logs). Called after a secret is replaced; backends without such copies
        need not override it."""
        return

    # --- peer cache --------------------------------------------------------------------------

    @abc.abstractmethod
    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        """Insert or replace peers given as ``(id, access_hash, type, username, phone_number)``
        (Pyrofork) or ``(id, access_hash, type, phone_number)`` (Kurigram, Irenogram: no
        username; see :func:`vault.peers.full_peer_rows`)."""

    @abc.abstractmethod
    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        """Set usernames given as ``(peer_id, username)`` (Pyrofork) or ``(peer_id,
        [username, ...])`` (Kurigram, Irenogram): for each peer id named, the given ones
        replace its old ones (see :func:`vault.peers.usernames_by_peer`)."""

    @abc.abstractmethod
    async def get_peer_by_id(self, peer_id: int) -> Any:
        """Return the input peer cached under ``peer_id``; :class:`KeyError` if there is none."""

    @abc.abstractmethod
    async def get_peer_by_username(self, username: str) -> Any:
        """Return the input peer with this lower-case username; :class:`KeyError` if none/stale."""

    @abc.abstractmethod
    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        """Return the input peer with this phone number; :class:`KeyError` if there is none."""

    # --- update state ------------------------------------------------------------------------

    @abc.abstractmethod
    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        """Without an argument, list ``(id, pts, qts, date, seq)`` rows; with a tuple, insert or
        replace that row; with an int, delete the row of that id."""

    async def remove_state(self, chat_id: int) -> None:
        """Delete the update state of ``chat_id`` (Pyrofork calls this when leaving a chat)."""
        await self.update_state(chat_id)

    # Kurigram's update-state API, built on update_state(); a backend may do better.

    async def get_update_states(self, ids: int | Iterable[int] | None = None) -> list[Any]:
        """Kurigram's read: the update states of ``ids`` (one id, several, or ``None`` for
        all) as ``UpdateState`` objects, oldest ``date`` first (see
        :mod:`vault.storage.update_states`)."""
        return select_states(await self.update_state() or [], ids)

    async def set_update_state(
        self, update_state: UpdateStateLike | Iterable[UpdateStateLike]
    ) -> None:
        """Kurigram's write: insert or update one state or several. A field given as ``None``
        keeps the value stored before, as Kurigram's own storage does."""
        states = as_states(update_state)
        if not states:
            return
        stored = {row[0]: row for row in await self.update_state() or []}
        for state in states:
            row = stored[state.id] = merge_state(stored.get(state.id), state)
            await self.update_state(row)

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        """Kurigram's delete: drop the update state of one id or several."""
        for chat_id in state_ids(state_id):
            await self.update_state(chat_id)

    # --- session fields ----------------------------------------------------------------------

    @abc.abstractmethod
    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        """Data center id of the session."""

    async def server_address(self, value: str | Unset | None = UNSET) -> str | None:
        """Address of the session's data center, which Kurigram and Irenogram connect to.

        This default stores nothing: it reads Telegram's public address of ``dc_id()`` (test
        servers if ``test_mode()``; ``None`` for an unknown data center) and ignores writes,
        which is what a client that moves data centers ends up with too. Storages with a
        place for it (the Kurigram layout of :class:`~vault.storage.SQLiteStorage`) keep it.
        """
        if value is not UNSET:
            return None
        found = public_address(await self.dc_id(), await self.test_mode())
        return None if found is None else found[0]

    async def port(self, value: int | Unset | None = UNSET) -> int | None:
        """Port of :meth:`server_address`; this default reads 443 (80 on the test servers)
        for a known data center and ignores writes."""
        if value is not UNSET:
            return None
        found = public_address(await self.dc_id(), await self.test_mode())
        return None if found is None else found[1]

    @abc.abstractmethod
    async def api_id(self, value: int | Unset | None = UNSET) -> int | None:
        """API id the session was created with."""

    @abc.abstractmethod
    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        """Whether the session is on Telegram's test servers."""

    @abc.abstractmethod
    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        """The 256-byte MTProto auth key: the account's credential."""

    @abc.abstractmethod
    async def date(self, value: int | Unset = UNSET) -> int | None:
        """Unix time of the last ``save()``."""

    @abc.abstractmethod
    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        """Id of the logged-in account; ``None`` clears it."""

    @abc.abstractmethod
    async def is_bot(self, value: bool | Unset | None = UNSET) -> bool | None:
        """Whether the logged-in account is a bot; ``None`` clears it."""

    # --- session strings ---------------------------------------------------------------------

    async def session_data(self) -> SessionData:
        """The session fields a session string carries.

        Raises :class:`~vault.errors.InvalidSessionString` if the session is not logged in yet.
        """
        dc_id, api_id, test_mode = await self.dc_id(), await self.api_id(), await self.test_mode()
        auth_key, user_id, is_bot = await self.auth_key(), await self.user_id(), await self.is_bot()
        if dc_id is None or auth_key is None or user_id is None:
            raise InvalidSessionString(
                "cannot export a session string: the session is not logged in yet "
                "(no auth key or user id); log in first"
            )
        return SessionData(
            dc_id=dc_id,
            api_id=api_id,
            test_mode=bool(test_mode),
            auth_key=bytes(auth_key),
            user_id=user_id,
            is_bot=bool(is_bot),
        )

    async def load_session_data(self, data: SessionData) -> None:
        """Write decoded session fields into this (open) storage; the save ``date`` is reset."""
        await self.dc_id(data.dc_id)
        await self.api_id(data.api_id)
        await self.test_mode(data.test_mode)
        # Storages that keep a server address must point it at the string's data center.
        address = public_address(data.dc_id, data.test_mode)
        if address is not None:
            await self.server_address(address[0])
            await self.port(address[1])
        await self.auth_key(data.auth_key)
        await self.user_id(data.user_id)
        await self.is_bot(data.is_bot)
        await self.date(0)

    async def export_session_string(self) -> str:
        """Serialise the session as a Pyrogram session string (362 characters).

        Anyone who has the string has the account: treat it like a password.
        """
        return encode_session_string(await self.session_data())

    async def import_session_string(self, session_string: str) -> None:
        """Load a Pyrogram session string (any of its three formats) into this open storage."""
        await self.load_session_data(decode_session_string(session_string))
