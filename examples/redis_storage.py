"""RedisStorage: a complete custom session backend on ``redis.asyncio``.

An example to copy and adapt (``docs/custom-backend.md`` walks through it). It passes the same
contract test suite as vault's own backends, against a real ``redis-server``.

Wrapped by :class:`vault.EncryptedStorage`, the auth key reaches Redis only sealed::

    import redis.asyncio
from redis.typing import EncodableT, FieldT
    from pyrogram import Client
    from vault import EncryptedStorage

    pool = redis.asyncio.BlockingConnectionPool.from_url("redis://127.0.0.1:6379/0")
    client = redis.asyncio.Redis.from_pool(pool)
    storage = EncryptedStorage(RedisStorage("my_account", client), passphrase=passphrase)
    app = Client("my_account", storage_engine=storage)

Run this file with ``REDIS_URL`` and ``VAULT_PASSPHRASE`` set to see a round trip.

Layout: every key starts with ``<prefix>:<name>:``.

========================  ====  =============================================================
key                       type  contents
========================  ====  =============================================================
``session``               hash  session fields; a missing field is ``None``
``peers``                 hash  peer id -> JSON ``[access_hash, type, username, phone, time]``
``peer_by_username``      hash  username -> peer id (checked against ``peers`` when read)
``peer_by_phone``         hash  phone number -> peer id (checked against ``peers`` when read)
``usernames``             hash  extra username -> JSON ``[peer_id, time]``
``usernames_of``          hash  peer id -> JSON list of its current extra usernames
``update_state``          hash  chat id -> JSON ``[pts, qts, date, seq]``
========================  ====  =============================================================
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from typing import Any

import redis.asyncio
from redis.typing import EncodableT, FieldT

from vault import EncryptedStorage
from vault.peers import AnyPeerRow, UsernameRow, full_peer_rows, get_input_peer, usernames_by_peer
from vault.storage import UNSET, Storage
from vault.storage.base import StateRow, Unset

_KEYS = (
    "session",
    "peers",
    "peer_by_username",
    "peer_by_phone",
    "usernames",
    "usernames_of",
    "update_state",
)
_INT_FIELDS = frozenset({"dc_id", "api_id", "date", "user_id"})
_BOOL_FIELDS = frozenset({"test_mode", "is_bot"})


class RedisStorage(Storage):
    """A session in Redis, under keys ``<prefix>:<name>:...``.

    ``client`` is a :class:`redis.asyncio.Redis`, best on a
    :class:`redis.asyncio.BlockingConnectionPool`: clients make hundreds of storage calls at
    once, and redis-py's default pool raises ``MaxConnectionsError`` instead of waiting for a
    free connection. The client stays yours: ``close()`` does not close it, so one client can
    serve many sessions. Every write is done when its call returns (make Redis durable with its
    own persistence settings); ``save()`` only records the save date.
    """

    def __init__(self, name: str, client: redis.asyncio.Redis, *, prefix: str = "vault") -> None:
        super().__init__(name)
        self.redis = client
        self.prefix = prefix

    def _k(self, part: str) -> str:
        return f"{self.prefix}:{self.name}:{part}"

    async def _hget(self, part: str, field: str) -> bytes | None:
        raw = await self.redis.hget(self._k(part), field)
        return raw.encode() if isinstance(raw, str) else raw  # str only if decode_responses

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the session hash if it is missing."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._k("session"), "dc_id", 2)
            pipe.hsetnx(self._k("session"), "date", 0)
            await pipe.execute()

    async def save(self) -> None:
        await self.date(self._now())

    async def close(self) -> None:
        """Nothing to release: the client stays yours. (``Storage`` itself marks the storage
        closed; closing twice, or before ``open()``, does nothing.)"""

    async def delete(self) -> None:
        """Close the storage if open and remove every key of the session."""
        await self.close()
        await self.redis.delete(*(self._k(part) for part in _KEYS))

    def _check(self) -> None:
        self._check_open()  # Storage's: raises before open() and after close()

    # --- peer cache --------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        """Write all peers and their lookup entries in one MULTI/EXEC round trip."""
        self._check()
        now = self._now()
        records: dict[FieldT, EncodableT] = {}
        by_username: dict[FieldT, EncodableT] = {}
        by_phone: dict[FieldT, EncodableT] = {}
        # Rows come with a username (Pyrofork) or without one (Kurigram, Irenogram).
        for peer_id, access_hash, peer_type, username, phone_number in full_peer_rows(peers):
            records[str(peer_id)] = json.dumps(
                [access_hash, peer_type, username, phone_number, now]
            )
            if username is not None:
                by_username[username] = peer_id
            if phone_number is not None:
                by_phone[phone_number] = peer_id
        if not records:
            return
        # A replaced peer's old username stays in peer_by_username; lookups check it against
        # the peer's record, so the stale entry never resolves.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k("peers"), mapping=records)
            if by_username:
                pipe.hset(self._k("peer_by_username"), mapping=by_username)
            if by_phone:
                pipe.hset(self._k("peer_by_phone"), mapping=by_phone)
            await pipe.execute()

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        """For each peer named, its usernames here replace the ones it had."""
        self._check()
        now = self._now()
        # (peer_id, username) pairs (Pyrofork) or (peer_id, [usernames]) (Kurigram, Irenogram).
        owned = usernames_by_peer(usernames)
        if not owned:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._k("usernames_of"),
                mapping={str(pid): json.dumps(names) for pid, names in owned.items()},
            )
            by_name = {
                name: json.dumps([pid, now]) for pid, names in owned.items() for name in names
            }
            if by_name:  # an empty list only clears a peer's usernames
                pipe.hset(self._k("usernames"), mapping=by_name)
            await pipe.execute()

    async def _peer(self, peer_id: int) -> list[Any] | None:
        """The ``[access_hash, type, username, phone, time]`` record of a peer, or None."""
        raw = await self._hget("peers", str(peer_id))
        return None if raw is None else list(json.loads(raw))

    async def _indexed(self, index: str, value: str, position: int) -> tuple[int, list[Any]]:
        """Follow a lookup index to a peer whose record still has ``value``; KeyError if none."""
        raw_id = await self._hget(index, value)
        peer_id = None if raw_id is None else int(raw_id)
        record = None if peer_id is None else await self._peer(peer_id)
        if peer_id is None or record is None or record[position] != value:
            raise KeyError(value)
        return peer_id, record

    async def get_peer_by_id(self, peer_id: int) -> Any:
        self._check()
        record = await self._peer(peer_id)
        if record is None:
            raise KeyError(f"ID not found: {peer_id}")
        return get_input_peer(peer_id, record[0], record[1])

    async def get_peer_by_username(self, username: str) -> Any:
        self._check()
        try:
            peer_id, record = await self._indexed("peer_by_username", username, 2)
        except KeyError:
            peer_id, record = await self._by_extra_username(username)
        if self._expired(record[4]):
            raise KeyError(f"Username not found: {username}")
        return get_input_peer(peer_id, record[0], record[1])

    async def _by_extra_username(self, username: str) -> tuple[int, list[Any]]:
        raw = await self._hget("usernames", username)
        if raw is not None:
            peer_id, updated = json.loads(raw)
            current = await self._hget("usernames_of", str(peer_id))
            record = await self._peer(peer_id)
            if (
                current is not None
                and username in json.loads(current)
                and not self._expired(updated)
                and record is not None
            ):
                return peer_id, record
        raise KeyError(f"Username not found: {username}")

    def _expired(self, updated: int) -> bool:
        return abs(self._now() - updated) > self.USERNAME_TTL

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        self._check()
        try:
            peer_id, record = await self._indexed("peer_by_phone", phone_number, 3)
        except KeyError:
            raise KeyError(f"Phone number not found: {phone_number}") from None
        return get_input_peer(peer_id, record[0], record[1])

    # --- update state ------------------------------------------------------------------------

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        self._check()
        key = self._k("update_state")
        if value is UNSET:
            stored = await self.redis.hgetall(key)
            rows: list[StateRow] = [
                (int(chat_id), *json.loads(raw)) for chat_id, raw in stored.items()
            ]
            return sorted(rows, key=lambda row: row[0])
        if isinstance(value, int):
            await self.redis.hdel(key, str(value))
        else:
            chat_id, *rest = value
            await self.redis.hset(key, str(chat_id), json.dumps(rest))
        return None

    # --- session fields ----------------------------------------------------------------------

    async def _field(self, field: str, value: Any) -> Any:
        self._check()
        key = self._k("session")
        if value is UNSET:
            raw = await self._hget("session", field)
            if raw is None:
                return None
            if field in _INT_FIELDS:
                return int(raw)
            if field in _BOOL_FIELDS:
                return raw == b"1"
            return raw
        if value is None:
            await self.redis.hdel(key, field)
        else:
            stored = int(value) if isinstance(value, bool) else value  # Redis has no booleans
            await self.redis.hset(key, field, stored)
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


async def main() -> None:
    """Store an encrypted session in Redis, read it back, and show what Redis holds."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.asyncio.Redis.from_pool(redis.asyncio.BlockingConnectionPool.from_url(url))
    inner = RedisStorage("example", client)
    storage = EncryptedStorage(inner, passphrase=os.environ["VAULT_PASSPHRASE"])
    await storage.open()
    try:
        await storage.auth_key(os.urandom(256))
        stored = await inner._hget("session", "auth_key") or b""
        print(f"Redis holds a {len(stored)}-byte envelope, not the 256-byte key")
    finally:
        await storage.close()
        await storage.delete()
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
