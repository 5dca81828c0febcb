"""MongoDB sessions for the command line: a client, and read-only copies of session
documents. The driver is imported only when a command names a MongoDB session.

The layouts are those of :class:`~vault.storage.MongoStorage` (see ``docs/mongo.md``): by
default a database named after the session with its document at ``_id`` 0; with
``--database`` one shared database whose session documents have the session name as ``_id``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..crypto.envelope import Header
from ..storage import MemoryStorage
from ..storage._values import checked
from .exits import CliError, Exit
from .mongo_options import read_uri, translated
from .sessionfile import stored_header

if TYPE_CHECKING:
    from ..storage.mongo import MongoStorage

__all__ = ["MongoSessions", "MongoSnapshot", "MongoView", "connected"]

#: Seconds a killed command's lease keeps lease-using clients out of the session.
LEASE_TIMEOUT = 30.0
SESSION_FIELDS = ("dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot")


def _from_stored(name: str, field: str, stored: Any) -> Any:
    """A stored field of session ``name`` as MongoStorage reads it, refused as it refuses it
    (importing the driver only when used)."""
    from ..storage.mongo import _from_stored as convert  # noqa: PLC0415

    return convert(field, checked(name, field, stored))


@dataclass(frozen=True)
class MongoView:
    """What a session document holds, read without any key (no auth key in here)."""

    name: str
    database: str
    shared: bool
    header: Header | None
    has_auth_key: bool
    fields: dict[str, Any]
    peers: int
    usernames: int
    update_states: int
    lease: dict[str, Any] | None

    @property
    def encrypted(self) -> bool:
        return self.header is not None


class MongoSnapshot(MemoryStorage):
    """A session document copied into memory: nothing done through it reaches the server."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        super().__init__(name)
        self._document = document

    async def open(self) -> None:
        await super().open()
        for field in SESSION_FIELDS:
            value = _from_stored(self.name, field, self._document.get(field))
            if value is not None:
                await getattr(self, field)(value)


class MongoSessions:
    """Sessions reached through one client, in the default or a shared layout."""

    def __init__(self, client: Any, uri: str, database: str | None) -> None:
        self.client = client
        self.uri = uri
        self.database = database

    def label(self, name: str) -> str:
        """How messages name a session (never with the URI)."""
        if self.database is None:
            return f"MongoDB session {name!r}"
        return f"MongoDB session {name!r} in database {self.database!r}"

    def _db(self, name: str) -> Any:
        return self.client[self.database if self.database is not None else name]

    def _scope(self, name: str) -> dict[str, Any]:
        return {} if self.database is None else {"session": name}

    def translated(self) -> contextlib.AbstractContextManager[None]:
        """See :func:`translated`."""
        return translated(self.uri)

    def storage(self, name: str) -> MongoStorage:
        """A storage for changing the session, holding its lease while open."""
        from ..storage.mongo import MongoStorage  # noqa: PLC0415

        return MongoStorage(
            name, self.client, database=self.database, lease=True, lease_timeout=LEASE_TIMEOUT
        )

    async def names(self, args: argparse.Namespace) -> list[str]:
        """``--name``, or with ``--all`` every session of the shared database, sorted."""
        if not getattr(args, "all", False):
            return [args.name]
        with self.translated():
            docs = await self._db("").session.find({}, {"_id": 1}).to_list()
        ids = [doc["_id"] for doc in docs]
        if any(not isinstance(i, str) for i in ids):
            raise CliError(
                Exit.BAD_DATA,
                f"database {self.database!r} is not in the shared layout (it holds a "
                "one-session document); name sessions of the default layout with --name only",
            )
        if not ids:
            raise CliError(
                Exit.NOT_FOUND, f"database {self.database!r} holds no sessions; check --database"
            )
        return sorted(ids)

    async def document(self, name: str) -> dict[str, Any]:
        """The session document, or a "not found" error."""
        session_id = name if self.database is not None else 0
        with self.translated():
            doc = await self._db(name).session.find_one({"_id": session_id})
        if doc is None:
            raise CliError(
                Exit.NOT_FOUND,
                f"no {self.label(name)}; check --name (and --database for the shared layout)",
            )
        return dict(doc)

    async def view(self, name: str) -> MongoView:
        """Read what the session holds, changing nothing."""
        doc = await self.document(name)
        stored = _from_stored(name, "auth_key", doc.get("auth_key"))
        header = stored_header(stored, self.label(name))
        db, scope = self._db(name), self._scope(name)
        with self.translated():
            counts = [
                await db[c].count_documents(scope) for c in ("peers", "usernames", "update_state")
            ]
        lease = doc.get("lease")
        fresh = isinstance(lease, dict) and float(lease.get("expires", 0)) > time.time()
        return MongoView(
            name=name,
            database=db.name,
            shared=self.database is not None,
            header=header,
            has_auth_key=stored is not None,
            fields={
                f: _from_stored(name, f, doc.get(f)) for f in SESSION_FIELDS if f != "auth_key"
            },
            peers=counts[0],
            usernames=counts[1],
            update_states=counts[2],
            lease=lease if fresh else None,
        )

    async def snapshot(self, name: str) -> MongoSnapshot:
        """An unopened in-memory copy of the session as it is on the server now."""
        return MongoSnapshot(name, await self.document(name))


@asynccontextmanager
async def connected(args: argparse.Namespace) -> AsyncIterator[MongoSessions]:
    """A client for the options' URI (closed after the block); errors are translated."""
    uri = read_uri(args)
    # pymongo's debug logs (--debug) are left out: they describe connections in detail.
    logging.getLogger("pymongo").setLevel(logging.WARNING)
    with translated(uri):
        try:
            import pymongo  # noqa: PLC0415
        except ImportError:
            raise CliError(
                Exit.FAILURE, "MongoDB needs pymongo: pip install 'session-vault[mongo]'"
            ) from None
        client: Any = pymongo.AsyncMongoClient(uri)
        try:
            yield MongoSessions(client, uri, args.database)
        finally:
            await client.close()
