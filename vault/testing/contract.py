"""``StorageContract``: the storage contract every backend keeps, as a pytest test class.

Subclass it in a test module (the name must start with ``Test``) and implement
:meth:`StorageContract.make_storage`; pytest runs every test below over the backend, once as it
is and once wrapped by :class:`vault.EncryptedStorage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio

from ..crypto import CHEAP_KDF
from ..encrypted import EncryptedStorage
from ..errors import (
    InvalidSessionString,
    StorageClosedError,
    StorageNotOpenError,
    StorageStateError,
)
from ..session_string import SessionData, decode_session_string
from ..storage import UNSET, Storage
from ..storage.update_states import UpdateState
from .session import log_in

TTL = Storage.USERNAME_TTL
#: The passphrase of the encrypted run; the cheap KDF keeps that run fast (never use it for
#: real sessions).
_PASSPHRASE = "storage contract passphrase"  # noqa: S105 - a test passphrase, for test data

_FIELD_VALUES = [
    ("dc_id", 5),
    ("api_id", 2040),
    ("test_mode", True),
    ("auth_key", bytes(range(256))),
    ("date", 1_700_000_000),
    ("user_id", 2**40 + 3),
    ("is_bot", True),
]

_PEER_TYPES = [
    (1001, "user", "InputPeerUser", {"user_id": 1001, "access_hash": 11}),
    (1002, "bot", "InputPeerUser", {"user_id": 1002, "access_hash": 11}),
    (-1003, "group", "InputPeerChat", {"chat_id": 1003}),
    (-1001234567890, "channel", "InputPeerChannel", {"channel_id": 1234567890}),
    (-1001234567891, "supergroup", "InputPeerChannel", {"channel_id": 1234567891}),
    (-1001234567892, "forum", "InputPeerChannel", {"channel_id": 1234567892}),
    (-1001234567893, "direct", "InputPeerChannel", {"channel_id": 1234567893}),
]

_MISSING_LOOKUPS = [
    ("get_peer_by_id", 404),
    ("get_peer_by_username", "nobody"),
    ("get_peer_by_phone_number", "0"),
]


async def _export_plain(storage: Storage) -> str:
    # EncryptedStorage exports encrypted strings; its plain export is the contract's format.
    if isinstance(storage, EncryptedStorage):
        return await storage.export_plain_session_string()
    return await storage.export_session_string()


class StorageContract:
    """The storage contract as tests: subclass it as ``TestMyBackend`` and implement
    :meth:`make_storage`.

    Every test runs twice, ``[plain]`` over the storages :meth:`make_storage` returns and
    ``[encrypted]`` over each wrapped by :class:`vault.EncryptedStorage`. Async tests carry the
    ``asyncio`` mark, so they run whether or not the project sets pytest-asyncio's
    ``asyncio_mode = "auto"``.

    Inside :meth:`make_storage`, ``self.tmp_path`` is the test's temporary directory, and
    ``self.fixture(name)`` the value of each fixture named in :attr:`fixtures` (a database
    client, say).

    Username expiry is tested by moving the clock that :meth:`vault.storage.Storage._now`
    reads (see :meth:`advance_clock`): take the time from ``self._now()`` in the backend.
    """

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    #: Whether data survives ``close()`` and a new storage of the same name. Set it to
    #: ``False`` for a backend that keeps nothing (the reopen test is then skipped).
    persistent: ClassVar[bool] = True

    #: Names of the fixtures :meth:`make_storage` uses; read each with :meth:`fixture`.
    fixtures: ClassVar[tuple[str, ...]] = ()

    tmp_path: Path

    def make_storage(self, name: str) -> Storage:
        """A new, unopened storage for the session ``name``; within one test, the same name
        reaches the same data (when :attr:`persistent`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_storage(name)")

    def fixture(self, name: str) -> Any:
        """The value of the fixture ``name``, one of :attr:`fixtures`, in this test."""
        return self._fixture_values[name]

    def advance_clock(self, seconds: float) -> None:
        """Move the time every storage reads from ``Storage._now()`` forward by ``seconds``
        (for this test only). Override it if the backend reads another clock."""
        offset = getattr(self, "_clock_offset", 0.0) + seconds
        if not hasattr(self, "_clock_offset"):

            def now(storage: Storage) -> int:
                return int(time.time() + self._clock_offset)

            self._request.getfixturevalue("monkeypatch").setattr(Storage, "_now", now)
        self._clock_offset = offset

    # --- fixtures ------------------------------------------------------------------------------

    @pytest.fixture(autouse=True, params=["plain", "encrypted"])
    def _contract_run(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self._bind(request, tmp_path)
        self._encrypted = request.param == "encrypted"

    def _bind(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        """Give :meth:`make_storage` what it may use in the test of ``request``."""
        self._request = request
        self.tmp_path = tmp_path
        self._fixture_values = {name: request.getfixturevalue(name) for name in self.fixtures}

    def _make(self, name: str) -> Storage:
        inner = self.make_storage(name)
        if self._encrypted:
            return EncryptedStorage(inner, passphrase=_PASSPHRASE, kdf=CHEAP_KDF)
        return inner

    @pytest_asyncio.fixture
    async def storage(self, _contract_run: None) -> AsyncIterator[Storage]:
        """An open, fresh storage, closed after the test."""
        s = self._make("contract")
        await s.open()
        try:
            yield s
        finally:
            await s.close()

    # --- session fields ------------------------------------------------------------------------

    async def test_new_session_has_defaults(self, storage: Storage) -> None:
        assert await storage.dc_id() == 2
        assert await storage.date() == 0
        for accessor in (storage.api_id, storage.test_mode, storage.auth_key, storage.user_id):
            assert await accessor() is None
        assert await storage.is_bot() is None

    @pytest.mark.parametrize(("field", "value"), _FIELD_VALUES)
    async def test_field_round_trips(self, storage: Storage, field: str, value: Any) -> None:
        accessor = getattr(storage, field)
        assert await accessor(value) is None
        assert await accessor() == value
        assert type(await accessor()) is type(value)

    async def test_none_clears_and_unset_reads(self, storage: Storage) -> None:
        await storage.user_id(42)
        await storage.is_bot(True)
        await storage.user_id(None)
        await storage.is_bot(None)
        assert await storage.user_id() is None
        assert await storage.is_bot() is None
        await storage.user_id(43)
        assert await storage.user_id(UNSET) == 43

    # --- peer cache ----------------------------------------------------------------------------

    @pytest.mark.parametrize(("peer_id", "peer_type", "cls", "fields"), _PEER_TYPES)
    async def test_peer_types_map_to_input_peers(
        self, storage: Storage, peer_id: int, peer_type: str, cls: str, fields: dict[str, int]
    ) -> None:
        await storage.update_peers([(peer_id, 11, peer_type, f"name{abs(peer_id)}", None)])
        peer = await storage.get_peer_by_id(peer_id)
        assert type(peer).__name__ == cls
        for name, expected in fields.items():
            assert getattr(peer, name) == expected
        assert await storage.get_peer_by_username(f"name{abs(peer_id)}") == peer

    async def test_lookups_by_username_and_phone(self, storage: Storage) -> None:
        await storage.update_peers(
            [(1, 100, "user", "alice", "15550001"), (2, 200, "user", None, "15550002")]
        )
        assert (await storage.get_peer_by_username("alice")).user_id == 1
        assert (await storage.get_peer_by_phone_number("15550002")).access_hash == 200

    async def test_encrypted_run_stores_only_tokens(self, storage: Storage) -> None:
        """In the encrypted run the peer cache is sealed: the inner storage finds nothing by
        the plain values, while lookups through the wrapper (this whole suite) still work."""
        await storage.update_peers([(1, 100, "user", "alice", "15550001")])
        await storage.update_usernames([(1, "alias")])
        assert (await storage.get_peer_by_username("alias")).user_id == 1
        assert (await storage.get_peer_by_phone_number("15550001")).user_id == 1
        if isinstance(storage, EncryptedStorage):
            for method, plain in (
                ("get_peer_by_username", "alice"),
                ("get_peer_by_username", "alias"),
                ("get_peer_by_phone_number", "15550001"),
            ):
                with pytest.raises(KeyError):
                    await getattr(storage.inner, method)(plain)

    @pytest.mark.parametrize(("method", "arg"), _MISSING_LOOKUPS)
    async def test_missing_peer_raises_key_error(
        self, storage: Storage, method: str, arg: Any
    ) -> None:
        await storage.update_peers([(1, 100, "user", "alice", "15550001")])
        with pytest.raises(KeyError):
            await getattr(storage, method)(arg)

    async def test_update_replaces_a_peer(self, storage: Storage) -> None:
        await storage.update_peers([(1, 100, "user", "old", "111")])
        await storage.update_peers([(1, 101, "user", "new", "222")])
        assert (await storage.get_peer_by_id(1)).access_hash == 101
        assert (await storage.get_peer_by_username("new")).user_id == 1
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("old")
        with pytest.raises(KeyError):
            await storage.get_peer_by_phone_number("111")

    async def test_username_expires_after_ttl(self, storage: Storage) -> None:
        await storage.update_peers([(1, 100, "user", "alice", None)])
        self.advance_clock(TTL - 5)
        assert (await storage.get_peer_by_username("alice")).user_id == 1
        self.advance_clock(10)
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("alice")
        assert (await storage.get_peer_by_id(1)).user_id == 1  # ids do not expire
        await storage.update_peers([(1, 100, "user", "alice", None)])
        assert (await storage.get_peer_by_username("alice")).user_id == 1

    async def test_extra_usernames_resolve_and_are_replaced(self, storage: Storage) -> None:
        await storage.update_peers([(-1001234567890, 5, "supergroup", "main", None)])
        await storage.update_usernames([(-1001234567890, "alias1"), (-1001234567890, "alias2")])
        assert (await storage.get_peer_by_username("alias2")).channel_id == 1234567890
        await storage.update_usernames([(-1001234567890, "alias3")])
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("alias1")
        assert (await storage.get_peer_by_username("alias3")).access_hash == 5
        self.advance_clock(TTL + 1)
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("alias3")

    async def test_username_of_an_uncached_peer_is_missing(self, storage: Storage) -> None:
        await storage.update_usernames([(99, "ghost")])
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("ghost")

    async def test_many_peers_in_one_call(self, storage: Storage) -> None:
        peers = [(i, i * 7, "user", f"u{i}", f"+{i}") for i in range(1, 3001)]
        await storage.update_peers(peers)
        await storage.update_peers([])
        for i in (1, 1500, 3000):
            assert (await storage.get_peer_by_id(i)).access_hash == i * 7
            assert (await storage.get_peer_by_username(f"u{i}")).user_id == i
            assert (await storage.get_peer_by_phone_number(f"+{i}")).user_id == i

    async def test_kurigram_peer_rows_and_username_lists(self, storage: Storage) -> None:
        """Kurigram and Irenogram pass 4-field peers and lists of usernames per peer."""
        await storage.update_peers([(7, 70, "user", "+77"), (-1001234567890, 5, "channel", None)])
        await storage.update_usernames([(7, ["seven", None, "sept"]), (-1001234567890, ["chan"])])
        assert (await storage.get_peer_by_username("sept")).access_hash == 70
        assert (await storage.get_peer_by_username("chan")).channel_id == 1234567890
        assert (await storage.get_peer_by_phone_number("+77")).user_id == 7
        await storage.update_usernames([(7, ["siete"]), (-1001234567890, [])])
        assert (await storage.get_peer_by_username("siete")).user_id == 7
        for gone in ("seven", "sept", "chan"):
            with pytest.raises(KeyError):
                await storage.get_peer_by_username(gone)
        # A 4-field row replaces the peer without a username of its own; its usernames stay.
        await storage.update_peers([(7, 71, "user", None)])
        assert (await storage.get_peer_by_username("siete")).access_hash == 71
        with pytest.raises(KeyError):
            await storage.get_peer_by_phone_number("+77")

    async def test_server_address_follows_the_data_center(self, storage: Storage) -> None:
        """What Kurigram and Irenogram connect to: a new session is on DC 2, and a loaded
        session points at its own data center's public address."""
        assert (await storage.server_address(), await storage.port()) == ("149.154.167.51", 443)
        data = SessionData(4, 1, False, bytes(range(256)), 42, False)
        await storage.load_session_data(data)
        assert (await storage.server_address(), await storage.port()) == ("149.154.167.91", 443)
        await storage.load_session_data(dataclasses.replace(data, dc_id=1, test_mode=True))
        assert (await storage.server_address(), await storage.port()) == ("149.154.175.10", 80)

    # --- update state --------------------------------------------------------------------------

    async def test_update_state_get_upsert_delete(self, storage: Storage) -> None:
        assert await storage.update_state() == []
        await storage.update_state((1, 10, 20, 30, 40))
        await storage.update_state((-1001234567890, 11, None, 31, None))
        await storage.update_state((1, 12, 22, 32, 42))
        assert sorted(await storage.update_state() or []) == [
            (-1001234567890, 11, None, 31, None),
            (1, 12, 22, 32, 42),
        ]
        await storage.update_state(1)
        await storage.remove_state(-1001234567890)
        assert await storage.update_state() == []

    async def test_kurigram_update_state_api(self, storage: Storage) -> None:
        """Kurigram's get/set/delete_update_state over the same rows as update_state()."""
        assert await storage.get_update_states() == []
        await storage.set_update_state(UpdateState(0, 100, 5, 1_700_000_050, 9))
        await storage.set_update_state(
            [
                UpdateState(-1001, 7, None, None, None),
                UpdateState(-1002, 8, None, 1_700_000_000, None),
            ]
        )
        # None keeps what was stored, as Kurigram's own storage does.
        await storage.set_update_state(UpdateState(0, 101, None, None, None))
        states = await storage.get_update_states()
        assert [(s.id, s.pts, s.qts, s.date, s.seq) for s in states] == [
            (-1001, 7, None, None, None),  # no date: first, as Kurigram orders them
            (-1002, 8, None, 1_700_000_000, None),
            (0, 101, 5, 1_700_000_050, 9),
        ]
        assert [s.id for s in await storage.get_update_states(0)] == [0]
        assert [s.id for s in await storage.get_update_states([-1002, 404])] == [-1002]
        assert await storage.get_update_states([]) == []
        assert (0, 101, 5, 1_700_000_050, 9) in (await storage.update_state() or [])
        await storage.delete_update_state([-1001, -1002])
        await storage.delete_update_state(0)
        assert await storage.update_state() == []

    # --- session strings -----------------------------------------------------------------------

    async def test_session_string_round_trip(self, storage: Storage) -> None:
        key = await log_in(storage, user_id=123456789)
        text = await _export_plain(storage)
        assert len(text) == 362
        data = decode_session_string(text)
        assert (data.dc_id, data.api_id, data.user_id, data.auth_key) == (4, 12345, 123456789, key)

        other = self._make("imported")
        await other.open()
        try:
            await other.import_session_string(text)
            assert await other.auth_key() == key
            assert await _export_plain(other) == text
        finally:
            await other.close()

    async def test_export_before_login_is_refused(self, storage: Storage) -> None:
        with pytest.raises(InvalidSessionString, match="not logged in"):
            await storage.export_session_string()

    # --- lifecycle -----------------------------------------------------------------------------

    async def test_data_survives_reopen_without_save(self) -> None:
        if not self.persistent:
            pytest.skip("this backend keeps nothing after close() (persistent = False)")
        first = self._make("durable")
        await first.open()
        key = await log_in(first)
        await first.update_peers([(5, 55, "user", "five", None)])
        await first.update_state((5, 1, 2, 3, 4))
        await first.close()

        second = self._make("durable")
        await second.open()
        try:
            assert await second.auth_key() == key
            assert (await second.get_peer_by_username("five")).access_hash == 55
            assert await second.update_state() == [(5, 1, 2, 3, 4)]
        finally:
            await second.close()

    async def test_save_records_the_date(self, storage: Storage) -> None:
        self.advance_clock(1000)
        await storage.save()
        assert abs((await storage.date() or 0) - storage._now()) <= 1

    async def test_delete_forgets_the_session(self) -> None:
        s = self._make("doomed")
        await s.open()
        await log_in(s)
        await s.update_peers([(5, 55, "user", "five", None)])
        await s.close()
        await s.delete()

        fresh = self._make("doomed")
        await fresh.open()
        try:
            assert await fresh.auth_key() is None
            with pytest.raises(KeyError):
                await fresh.get_peer_by_id(5)
        finally:
            await fresh.close()

    async def test_lifecycle_errors(self) -> None:
        s = self._make("lifecycle")
        await s.close()  # closing before open() does nothing
        with pytest.raises(StorageNotOpenError):
            await s.dc_id()
        await s.open()
        with pytest.raises(StorageStateError):
            await s.open()
        await s.close()
        await s.close()  # closing twice does nothing
        with pytest.raises(StorageClosedError):
            await s.dc_id()
        with pytest.raises(StorageClosedError):
            await s.update_peers([(1, 1, "user", None, None)])
        with pytest.raises(StorageClosedError):
            await s.open()

    async def test_concurrent_reads_and_writes_lose_nothing(self, storage: Storage) -> None:
        async def writer(i: int) -> None:
            await storage.update_peers([(i, i, "user", f"w{i}", None)])
            await storage.update_state((i, i, i, i, i))

        async def reader(i: int) -> None:
            await storage.dc_id()
            with contextlib.suppress(KeyError):
                await storage.get_peer_by_id(i)

        await asyncio.gather(*(f(i) for i in range(1, 151) for f in (writer, reader)))
        for i in range(1, 151):
            assert (await storage.get_peer_by_username(f"w{i}")).user_id == i
        assert len(await storage.update_state() or []) == 150

    async def test_repr_shows_no_secret(self, storage: Storage) -> None:
        key = await log_in(storage)
        text = await storage.export_session_string()
        shown = repr(storage) + str(storage)
        assert key.hex() not in shown and text not in shown
        assert storage.name in shown
