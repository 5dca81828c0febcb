"""MongoDB sessions for the command line: a client, read-only copies of session documents,
and a session as a :class:`~vault.cli.target.Target`. The driver is imported only when a
command names a MongoDB session.

A server has no atomic file replace, so every change of the key is one update of the session
document's ``auth_key`` field (the server applies it whole or not at all), made while holding
the session's lease. The result is then read back from the server and opened with the new
credentials; only then is success reported. If it does not open, the previous value is put
back. A crash at any moment leaves the old value or the new one, each usable. Sealing the
stored peer cache takes more documents than one: it is done in steps around that update
(:mod:`vault.storage._mongo_seal`), each safe to repeat, so a rerun finishes it.

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
from typing import TYPE_CHECKING, Any

from ..storage import MemoryStorage
from ..storage._values import checked
from .exits import CliError, Exit
from .mongo_options import read_uri, translated
from .target import CACHE_TABLES, SESSION_FIELDS, Target
from .vaults import Edit, Outcome, opened, read_auth_key

if TYPE_CHECKING:
    from ..storage.mongo import MongoStorage

__all__ = ["MongoSessions", "MongoSnapshot", "MongoTarget", "connected"]

#: Seconds a killed command's lease keeps lease-using clients out of the session.
LEASE_TIMEOUT = 30.0


def _from_stored(name: str, field: str, stored: Any) -> Any:
    """A stored field of session ``name`` as MongoStorage reads it, refused as it refuses it
    (importing the driver only when used)."""
    from ..storage.mongo import _from_stored as convert  # noqa: PLC0415

    return convert(field, checked(name, field, stored))


class MongoSnapshot(MemoryStorage):
    """A session document copied into memory: nothing done through it reaches the server."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        super().__init__(name)
        self.document = document

    async def open(self) -> None:
        await super().open()
        for field in SESSION_FIELDS:
            value = _from_stored(self.name, field, self.document.get(field))
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

    def database_of(self, name: str) -> str:
        """The database that holds session ``name``."""
        return self.database if self.database is not None else name

    def _db(self, name: str) -> Any:
        return self.client[self.database_of(name)]

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

    async def counts(self, name: str) -> dict[str, int]:
        """How many peers, usernames and update states the session caches."""
        db, scope = self._db(name), self._scope(name)
        with self.translated():
            return {
                key: await db[collection].count_documents(scope)
                for key, collection in CACHE_TABLES.items()
            }

    async def snapshot(self, name: str) -> MongoSnapshot:
        """An unopened in-memory copy of the session as it is on the server now."""
        return MongoSnapshot(name, await self.document(name))


class MongoTarget(Target[MongoSnapshot]):
    """The session ``name`` reached through ``sessions``."""

    def __init__(self, sessions: MongoSessions, name: str) -> None:
        self.sessions = sessions
        self.name = name
        self.label = sessions.label(name)
        self.storage_code = f"MongoStorage({name!r}, client)"
        shared = "" if sessions.database is None else f" --database {sessions.database}"
        self.cli_args = f"--mongo-uri URI --name {name}{shared}"

    async def snapshot(self) -> MongoSnapshot:
        return await self.sessions.snapshot(self.name)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Driver errors translated; the lease is taken by each change itself."""
        return self.sessions.translated()

    async def change(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change`: the result is read back from the server while the lease
        is still held; if it does not give the same auth key, the previous value is put back.
        A session just decrypted from a sealed cache has its tokens emptied."""
        from ..storage import _mongo_seal  # noqa: PLC0415 - needs the driver

        with self.sessions.translated():
            previous = (await self.sessions.document(self.name)).get("auth_key")
            inner = self.sessions.storage(self.name)
            async with edit(inner) as outcome:
                await self._check(outcome, inner, previous)
                if not outcome.sealed and outcome.peer_index is not None:
                    await _mongo_seal.clear_tokens(inner)
            return outcome

    async def change_in_place(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change_in_place`. Holding the lease, the edit runs on an
        in-memory copy of the session document; then the stored cache is sealed under the
        outcome's peer index in the steps of :mod:`vault.storage._mongo_seal`, around the one
        update of the auth key field (checked as :meth:`change` checks it). A crash at any
        moment leaves a session whose lookups work; a rerun finishes the sealing."""
        from ..storage import _mongo_seal  # noqa: PLC0415 - needs the driver

        with self.sessions.translated():
            async with opened(self.sessions.storage(self.name)) as inner:
                copy = await self.snapshot()
                previous = copy.document.get("auth_key")
                async with edit(copy) as outcome:
                    index = outcome.peer_index  # wiped when the edit's vault closes
                    if index is not None:
                        await _mongo_seal.stage(inner, index)
                    await inner.auth_key(await copy.auth_key())
                    await self._check(outcome, inner, previous)
                if index is not None:
                    await _mongo_seal.finish(inner)
            return outcome

    async def finish_sealing(self) -> None:
        from ..storage import _mongo_seal  # noqa: PLC0415 - needs the driver

        with self.sessions.translated():
            async with opened(self.sessions.storage(self.name)) as inner:
                await _mongo_seal.finish(inner)

    def _sealing_started(self, snapshot: MongoSnapshot) -> bool:
        from ..storage.mongo import sealing_state  # noqa: PLC0415 - needs the driver

        return sealing_state(snapshot.document) is not None

    async def _check(self, outcome: Outcome, inner: MongoStorage, previous: Any) -> None:
        """Read the changed session back from the server: unless it gives the outcome's auth
        key, put ``previous`` back in its auth key field and fail."""
        try:
            same = (await read_auth_key(await self.snapshot(), **outcome.check) or b"") == (
                outcome.key
            )
        except Exception:
            same = False
        if not same:
            await inner.auth_key(previous)
            raise CliError(
                Exit.INTERNAL,
                f"the changed {self.label} did not give back the same auth key; its "
                "previous value was put back (please report this)",
            )

    async def _place(self, snapshot: MongoSnapshot) -> dict[str, Any]:
        lease = snapshot.document.get("lease")
        if not isinstance(lease, dict) or float(lease.get("expires", 0)) <= time.time():
            lease = {}  # none, or one a killed command left that has expired
        return {
            "database": self.sessions.database_of(self.name),
            "layout": "default" if self.sessions.database is None else "shared",
            "session_name": self.name,
            "lease_owner": lease.get("owner"),
        }

    async def _counts(self, snapshot: MongoSnapshot) -> dict[str, int]:
        return await self.sessions.counts(self.name)

    def head(self, facts: dict[str, Any]) -> list[str]:
        shared = facts["layout"] == "shared"
        layout = "shared layout" if shared else "default layout: one database per session"
        owner = facts["lease_owner"]
        return [
            f"database:       {facts['database']} ({layout})",
            f"session name:   {facts['session_name']}",
            f"in use:         {'yes, lease held by ' + str(owner) if owner else 'no'}",
        ]


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
