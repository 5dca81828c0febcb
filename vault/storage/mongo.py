"""MongoStorage: sessions in MongoDB, through any of the async drivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
from collections.abc import Iterable
from typing import Any, Final

try:
    from pymongo import DeleteMany, UpdateOne
except ImportError:  # pragma: no cover - every async driver installs pymongo
    raise ImportError(
        "MongoStorage needs an async MongoDB driver: pip install 'session-vault[mongo]'"
    ) from None

from ..errors import (
    SessionInUseError,
    UnsupportedDriverError,
)
from ..peers import AnyPeerRow, UsernameRow, full_peer_rows, get_input_peer, usernames_by_peer
from . import _mongo_log
from ._values import checked
from .fields import FieldStorage
from .values import UNSET, StateRow, Unset

__all__ = ["MongoStorage"]

log = logging.getLogger(__name__)
# pymongo's DEBUG command log would show the auth_key field of the session document (a
# plaintext key read to migrate it); see _mongo_log.
_mongo_log.install()

# (module, class) of the async clients MongoStorage drives; looked up in sys.modules only, so
# vault never imports a driver the user did not.
_ASYNC_CLIENTS: Final = (
    ("pymongo", "AsyncMongoClient"),
    ("motor.motor_asyncio", "AsyncIOMotorClient"),
    ("async_pymongo", "AsyncClient"),
)
_SYNC_CLIENTS: Final = (("pymongo", "MongoClient"), ("motor.motor_tornado", "MotorClient"))
_DRIVER_HINT: Final = (
    "pass an async client: pymongo.AsyncMongoClient (recommended), "
    "motor.motor_asyncio.AsyncIOMotorClient or async_pymongo.AsyncClient"
)

# The session document of a new session. Pyrofork's new sessions hold b"" and 0 as "not set"
# placeholders for auth_key and user_id; _from_stored reads those back as None.
_NEW_SESSION: Final = {
    "dc_id": 2,
    "api_id": None,
    "test_mode": None,
    "auth_key": None,
    "date": 0,
    "user_id": None,
    "is_bot": None,
}
_BOOL_FIELDS: Final = frozenset({"test_mode", "is_bot"})
_PEER_FIELDS: Final = {"_id": 1, "id": 1, "access_hash": 1, "type": 1, "last_update_on": 1}
# A sealing of the stored peer cache in progress (see _mongo_seal): the session document's
# field marking it, and the peer document fields holding the tokens set aside meanwhile.
SEALING: Final = "peers_sealing"
STAGED_USERNAME: Final = "sealing_username"
STAGED_PHONE: Final = "sealing_phone_number"


def _find_class(module: str, name: str) -> type | None:
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return cls if isinstance(cls, type) else None


def _check_async_client(connection: object) -> None:
    """Raise :class:`~vault.errors.UnsupportedDriverError` unless ``connection`` is a client
    of one of the async MongoDB drivers."""
    for module, name in _ASYNC_CLIENTS:
        cls = _find_class(module, name)
        if cls is not None and isinstance(connection, cls):
            return
    # Only the type is named: a client's repr can carry the connection URI and its password.
    got = f"{type(connection).__module__}.{type(connection).__qualname__}"
    for module, name in _SYNC_CLIENTS:
        cls = _find_class(module, name)
        if cls is not None and isinstance(connection, cls):
            raise UnsupportedDriverError(
                f"MongoStorage needs an async MongoDB driver, but got {module}.{name}, which "
                f"is synchronous; {_DRIVER_HINT}"
            )
    raise UnsupportedDriverError(
        f"MongoStorage needs an async MongoDB driver client, but got {got}; {_DRIVER_HINT}"
    )


class MongoStorage(FieldStorage):
    """A session in MongoDB, for deployments where one machine is not enough.

    ``connection`` is a client of an async driver: :class:`pymongo.AsyncMongoClient`
    (recommended), motor's ``AsyncIOMotorClient`` or ``async_pymongo.AsyncClient``. Anything
    else, a synchronous :class:`pymongo.MongoClient` included, raises
    :class:`~vault.errors.UnsupportedDriverError` here. The client stays yours: ``close()``
    does not close it, so one client can serve many sessions.

    Layouts:

    * default: a database named ``name`` with the collections ``session``, ``peers``,
      ``usernames`` and ``update_state``, as Pyrofork writes them (its databases open as they
      are);
    * shared (``database="..."``): the same four collections in one database for many
      sessions; every document carries the session name and its ``_id`` starts with
      ``"<name>/"``.

    ``delete()`` (clients call it on log-out) removes the session document and update state;
    the peer cache (peers and usernames) is kept unless ``remove_peers=True``.

    With ``lease=True`` the session document records which process has the session open and
    a heartbeat renews it every ``lease_timeout / 3`` seconds. Opening a session whose lease is
    held and fresh raises :class:`~vault.errors.SessionInUseError`; a lease not renewed for
    ``lease_timeout`` seconds (its owner died) is taken over. ``close()`` releases it. Every
    instance of the session must use ``lease=True`` for the lease to protect it.

    Every write is acknowledged by the server when its call returns; ``save()`` only records
    the save date.
    """

    def __init__(
        self,
        name: str,
        connection: Any,
        remove_peers: bool = False,
        database: str | None = None,
        *,
        lease: bool = False,
        lease_timeout: float = 60.0,
    ) -> None:
        super().__init__(name)
        _check_async_client(connection)
        if lease_timeout <= 0:
            raise ValueError("lease_timeout must be a positive number of seconds")
        self.remove_peers = remove_peers
        self.shared = database is not None
        self.database_name = database if database is not None else name
        db = connection[self.database_name]
        self._session, self._peers = db["session"], db["peers"]
        self._usernames, self._states = db["usernames"], db["update_state"]
        # Pyrofork's single session document has _id 0; shared documents are keyed by name.
        self._session_id: int | str = name if self.shared else 0
        self._scope: dict[str, str] = {"session": name} if self.shared else {}
        self._lease = lease
        self._lease_timeout = lease_timeout
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._heartbeat: asyncio.Task[None] | None = None
        self._lease_lost = False
        self._lease_expires = 0.0  # when our lease runs out unless renewed
        self._sealing = False  # a sealing of the stored peer cache is unfinished (_mongo_seal)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, database={self.database_name!r})"

    # --- keys --------------------------------------------------------------------------------

    def _key(self, natural: int | str) -> int | str:
        """The ``_id`` of a peer, username or update state document."""
        return f"{self.name}/{natural}" if self.shared else natural

    def _doc(self, natural: int | str, field: str, **values: Any) -> dict[str, Any]:
        """The fields to set on a document; shared documents also carry session and key."""
        if self.shared:
            values.update(session=self.name, **{field: natural})
        return values

    def _natural(self, doc: dict[str, Any], field: str) -> Any:
        return doc[field] if self.shared else doc["_id"]

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the session document and indexes if missing and, with ``lease=True``, take
        the lease.

        Raises :class:`~vault.errors.SessionInUseError` if another instance holds a fresh
        lease; the storage stays unopened, so ``open()`` may be retried.
        """
        await self._session.update_one(
            {"_id": self._session_id},
            {"$setOnInsert": {**_NEW_SESSION, **self._scope}},
            upsert=True,
        )
        await self._create_indexes()
        document = await self._session.find_one({"_id": self._session_id}, {SEALING: 1})
        self._sealing = sealing_state(document or {}) is not None
        if self._lease:
            await self._take_lease()
            self._heartbeat = asyncio.create_task(self._beat(), name=f"lease of {self.name}")

    async def _create_indexes(self) -> None:
        # create_index is idempotent: an index that exists is left as it is.
        scope = [("session", 1)] if self.shared else []
        await self._peers.create_index([*scope, ("username", 1)])
        await self._peers.create_index([*scope, ("phone_number", 1)])
        await self._usernames.create_index([*scope, ("peer_id", 1)])
        if self.shared:
            await self._states.create_index(scope)

    async def save(self) -> None:
        """Record the save date; every write is already acknowledged when its call returns."""
        await self.date(self._now())

    async def close(self) -> None:
        """Stop the heartbeat and release the lease. The client is not closed (it is yours).
        Closing twice, or before ``open()``, does nothing."""
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if heartbeat is not None and not self._lease_lost:
            await self._session.update_one(
                {"_id": self._session_id, "lease.owner": self._owner}, {"$unset": {"lease": ""}}
            )

    async def delete(self) -> None:
        """Close the storage if open, then remove the session document and update state, and
        with ``remove_peers=True`` the peer cache too.

        Raises :class:`~vault.errors.SessionInUseError`, deleting nothing, if another instance
        holds a fresh lease on the session.
        """
        await self.close()
        result = await self._session.delete_one(self._unleased())
        if result.deleted_count == 0 and await self._session.find_one({"_id": self._session_id}):
            raise self._in_use()
        await self._states.delete_many(self._scope)
        if self.remove_peers:
            await self._peers.delete_many(self._scope)
            await self._usernames.delete_many(self._scope)

    # --- lease -------------------------------------------------------------------------------

    def _unleased(self) -> dict[str, Any]:
        """The session document, if no fresh lease is on it."""
        free_or_stale = {"$or": [{"lease": None}, {"lease.expires": {"$lt": self._now()}}]}
        # $and, not {"_id": ..., "$or": ...}: nx-27017 0.8 applies the latter's update_one and
        # delete_one to any document matching the $or, i.e. another shared session's.
        return {"$and": [{"_id": self._session_id}, free_or_stale]}

    def _in_use(self) -> SessionInUseError:
        return SessionInUseError(
            f"session {self.name!r} in database {self.database_name!r} is open in another "
            "process (it holds the lease); stop the other client first, or wait "
            f"{self._lease_timeout:g} s after it died (two clients on one auth key make "
            "Telegram revoke it)"
        )

    async def _take_lease(self) -> None:
        expires = self._now() + self._lease_timeout
        lease = {"owner": self._owner, "expires": expires}
        result = await self._session.update_one(self._unleased(), {"$set": {"lease": lease}})
        if result.matched_count == 0:
            raise self._in_use()
        self._lease_expires = expires

    async def _renew_lease(self) -> bool:
        """Push the lease's expiry forward. If another instance has taken the lease, refuse
        further use and return False."""
        expires = self._now() + self._lease_timeout
        result = await self._session.update_one(
            {"_id": self._session_id, "lease.owner": self._owner},
            {"$set": {"lease.expires": expires}},
        )
        if result.matched_count == 0:
            self._lease_lost = True
            log.error("%r lost its lease to another process; it refuses further use", self)
        else:
            self._lease_expires = expires
        return not self._lease_lost

    async def _beat(self) -> None:
        renewed = True
        while renewed:
            await asyncio.sleep(self._lease_timeout / 3)
            try:
                renewed = await self._renew_lease()
            except Exception as error:  # the server may be back before the lease runs out
                log.warning("could not renew the lease of %r: %s", self, type(error).__name__)
                if self._now() >= self._lease_expires:
                    # Another process may take the session over from now on.
                    self._lease_lost = True
                    log.error("%r let its lease run out; it refuses further use", self)
                    return

    def _check(self) -> None:
        self._check_open()
        if self._lease_lost:
            raise SessionInUseError(
                f"{self!r} lost its lease: another process took the session over; stop this "
                "client (two clients on one auth key make Telegram revoke it)"
            )

    # --- peer cache --------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        """Insert or replace peers in one ``bulk_write`` of upserts keyed on ``_id``."""
        self._check()
        now = self._now()
        ops = [
            UpdateOne(
                {"_id": self._key(peer_id)},
                {
                    "$set": self._doc(
                        peer_id,
                        "id",
                        access_hash=access_hash,
                        type=peer_type,
                        username=username,
                        phone_number=phone_number,
                        last_update_on=now,
                    )
                },
                upsert=True,
            )
            for peer_id, access_hash, peer_type, username, phone_number in full_peer_rows(peers)
        ]
        if ops:
            await self._peers.bulk_write(ops)

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        """Replace the extra usernames of each peer named, in one ordered ``bulk_write``."""
        self._check()
        owned = usernames_by_peer(usernames)
        if not owned:
            return
        now = self._now()
        pairs = [(peer_id, name) for peer_id, names in owned.items() for name in names]
        ops: list[DeleteMany | UpdateOne] = [
            DeleteMany({**self._scope, "peer_id": peer_id}) for peer_id in owned
        ]
        ops += [
            UpdateOne(
                {"_id": self._key(username)},
                {"$set": self._doc(username, "id", peer_id=peer_id, last_update_on=now)},
                upsert=True,
            )
            for peer_id, username in pairs
        ]
        await self._usernames.bulk_write(ops)

    async def _find_peer(self, query: dict[str, Any], *, latest: bool = False) -> Any:
        sort = [("last_update_on", -1)] if latest else None
        return await self._peers.find_one({**self._scope, **query}, _PEER_FIELDS, sort=sort)

    async def _find_peer_by(
        self, field: str, staged: str, value: str, *, latest: bool = False
    ) -> Any:
        """The peer whose ``field`` is ``value``; while a sealing of the stored cache is
        unfinished, also one whose token is still staged in ``staged`` (unindexed: this
        lasts until the command that seals the cache is run to its end)."""
        doc = await self._find_peer({field: value}, latest=latest)
        if doc is None and self._sealing:
            doc = await self._find_peer({staged: value}, latest=latest)
        return doc

    def _input_peer(self, doc: dict[str, Any]) -> Any:
        peer_id, access_hash = self._natural(doc, "id"), doc["access_hash"]
        return get_input_peer(int(peer_id), _int(access_hash), doc["type"])

    async def get_peer_by_id(self, peer_id: int) -> Any:
        self._check()
        doc = await self._find_peer({"_id": self._key(peer_id)})
        if doc is None:
            raise KeyError(f"ID not found: {peer_id}")
        return self._input_peer(doc)

    async def get_peer_by_username(self, username: str) -> Any:
        self._check()
        doc = await self._find_peer_by("username", STAGED_USERNAME, username, latest=True)
        if doc is None:
            alias = await self._usernames.find_one({"_id": self._key(username)})
            if alias is None or self._expired(alias["last_update_on"]):
                raise KeyError(f"Username not found: {username}")
            doc = await self._find_peer({"_id": self._key(alias["peer_id"])})
        if doc is None or self._expired(doc["last_update_on"]):
            raise KeyError(f"Username not found: {username}")
        return self._input_peer(doc)

    def _expired(self, last_update_on: int) -> bool:
        return abs(self._now() - last_update_on) > self.USERNAME_TTL

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        self._check()
        doc = await self._find_peer_by("phone_number", STAGED_PHONE, phone_number)
        if doc is None:
            raise KeyError(f"Phone number not found: {phone_number}")
        return self._input_peer(doc)

    # --- update state ------------------------------------------------------------------------

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        self._check()
        if value is UNSET:
            rows: list[StateRow] = [
                (
                    int(self._natural(d, "id")),
                    _int(d["pts"]),
                    _int(d["qts"]),
                    _int(d["date"]),
                    _int(d["seq"]),
                )
                async for d in self._states.find(self._scope)
            ]
            return sorted(rows, key=lambda row: row[0])
        if isinstance(value, int):
            await self._states.delete_one({"_id": self._key(value)})
        else:
            chat_id, pts, qts, date, seq = value
            await self._states.update_one(
                {"_id": self._key(chat_id)},
                {"$set": self._doc(chat_id, "id", pts=pts, qts=qts, date=date, seq=seq)},
                upsert=True,
            )
        return None

    # --- session fields ----------------------------------------------------------------------

    async def _field(self, field: str, value: Any) -> Any:
        self._check()
        if value is UNSET:
            doc = await self._session.find_one({"_id": self._session_id}, {field: 1})
            stored = None if doc is None else doc.get(field)
            return _from_stored(field, checked(self.name, field, stored))
        await self._session.update_one({"_id": self._session_id}, {"$set": {field: value}})
        return None


def sealing_state(session_document: dict[str, Any]) -> str | None:
    """The step of a sealing of the stored peer cache that a session document records
    (``None``: none in progress)."""
    state = session_document.get(SEALING)
    return state if isinstance(state, str) else None


def _from_stored(field: str, stored: Any) -> Any:
    """A session field as the contract returns it, reading Pyrofork's placeholders as None."""
    if field == "auth_key":
        return bytes(stored) if stored else None
    if field == "user_id" and stored == 0:
        return None
    if field in _BOOL_FIELDS:
        # Some servers hand a stored False back as 0, and Pyrofork's placeholder is_bot is 0.
        return None if stored is None else bool(stored)
    return _int(stored)


def _int(stored: Any) -> int | None:
    """BSON 64-bit integers decode as ``bson.Int64``; callers get plain ints."""
    return None if stored is None else int(stored)
