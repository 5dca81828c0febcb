"""MongoStorage beyond the contract suite: drivers, layouts, peer removal, indexes, the lease,
and encryption at rest. Runs against the real server of ``tests/servers.py``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import PlaintextSessionError, SessionInUseError, UnsupportedDriverError
from vault.storage import MongoStorage

from .servers import MONGO_DRIVERS, MongoClients

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=MONGO_DRIVERS)
def conn(request: pytest.FixtureRequest, mongo_clients: MongoClients) -> Any:
    """A client of each async driver in turn."""
    return mongo_clients.connect(request.param)


@pytest.fixture
def db_name(mongo_clients: MongoClients) -> Callable[[str], str]:
    """Database (and default-layout session) names that the test's cleanup drops."""
    return lambda name: f"{mongo_clients.prefix}{name}"


async def log_in(s: MongoStorage | EncryptedStorage) -> bytes:
    key = os.urandom(256)
    await s.auth_key(key)
    await s.user_id(777000)
    return key


# --- drivers -------------------------------------------------------------------------------


def test_sync_client_is_refused_with_the_documented_message() -> None:
    sync = pymongo.MongoClient("mongodb://user:hunter2@127.0.0.1:1/", connect=False)
    try:
        with pytest.raises(UnsupportedDriverError) as raised:
            MongoStorage("account", connection=sync)
    finally:
        sync.close()
    message = str(raised.value)
    assert "pymongo.MongoClient, which is synchronous" in message
    for name in ("pymongo.AsyncMongoClient", "AsyncIOMotorClient", "async_pymongo.AsyncClient"):
        assert name in message
    assert "hunter2" not in message  # the URI's password never reaches the error
    assert isinstance(raised.value, TypeError)
    page = (Path(__file__).resolve().parent.parent / "docs" / "mongo.md").read_text()
    quoted = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert " ".join(quoted.split()) == " ".join(message.split())  # the docs quote it as it is


@pytest.mark.parametrize("not_a_client", [None, "mongodb://127.0.0.1", {"account": {}}])
def test_anything_but_an_async_client_is_refused(not_a_client: object) -> None:
    with pytest.raises(UnsupportedDriverError, match="needs an async MongoDB driver client"):
        MongoStorage("account", connection=not_a_client)


def test_importing_vault_imports_no_driver() -> None:
    code = (
        "import sys, vault, vault.storage\n"
        "loaded = {'pymongo', 'motor', 'async_pymongo'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
        "vault.MongoStorage\n"
        "assert 'pymongo' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# --- layouts -------------------------------------------------------------------------------


async def test_default_layout_is_one_database_per_session(
    conn: Any, db_name: Callable[[str], str]
) -> None:
    name = db_name("acct")
    s = MongoStorage(name, conn)
    await s.open()
    key = await log_in(s)
    await s.update_peers([(5, 55, "user", "five", "+5")])
    await s.update_usernames([(5, "cinq")])
    await s.update_state((5, 1, 2, 3, 4))
    await s.close()

    db = conn[name]
    session = await db["session"].find_one({"_id": 0})
    assert (session["auth_key"], session["user_id"], session["dc_id"]) == (key, 777000, 2)
    peer = await db["peers"].find_one({"_id": 5})
    assert (peer["access_hash"], peer["type"], peer["username"]) == (55, "user", "five")
    assert (await db["usernames"].find_one({"_id": "cinq"}))["peer_id"] == 5
    assert (await db["update_state"].find_one({"_id": 5}))["pts"] == 1


async def test_a_pyrofork_database_opens_as_it_is(
    conn: Any, db_name: Callable[[str], str], clock: Callable[[float], None]
) -> None:
    """Documents shaped as Pyrofork writes them, placeholders of a new session included."""
    name = db_name("pyrofork")
    db = conn[name]
    placeholders = {"dc_id": 2, "api_id": None, "test_mode": None, "auth_key": b""}
    await db["session"].insert_one({"_id": 0, **placeholders, "date": 0, "user_id": 0, "is_bot": 0})
    s = MongoStorage(name, conn)
    await s.open()
    try:
        assert await s.auth_key() is None
        assert await s.user_id() is None
        assert await s.is_bot() is False
        now = s._now()
        await db["peers"].insert_one(
            {
                "_id": 9,
                "access_hash": 99,
                "type": "bot",
                "username": "nine",
                "phone_number": None,
                "last_update_on": now,
            }
        )
        await db["usernames"].insert_one({"_id": "neuf", "peer_id": 9, "last_update_on": now})
        await db["update_state"].insert_one({"_id": 9, "pts": 1, "qts": 2, "date": 3, "seq": 4})
        assert (await s.get_peer_by_username("neuf")).user_id == 9
        assert await s.update_state() == [(9, 1, 2, 3, 4)]
        await s.is_bot(True)
        assert await s.is_bot() is True
    finally:
        await s.close()


async def test_shared_layout_isolates_sessions(conn: Any, db_name: Callable[[str], str]) -> None:
    database = db_name("shared")
    a = MongoStorage("alice", conn, remove_peers=True, database=database)
    b = MongoStorage("bob", conn, remove_peers=True, database=database)
    await a.open()
    await b.open()
    key_a, key_b = await log_in(a), await log_in(b)
    await a.update_peers([(1, 10, "user", "same", "+1")])
    await b.update_peers([(1, 20, "user", "same", "+1"), (2, 22, "user", None, None)])
    await a.update_usernames([(1, "alias")])
    await a.update_state((1, 1, 1, 1, 1))
    await b.update_state((2, 2, 2, 2, 2))

    assert (await a.get_peer_by_username("same")).access_hash == 10
    assert (await b.get_peer_by_phone_number("+1")).access_hash == 20
    with pytest.raises(KeyError):
        await a.get_peer_by_id(2)
    with pytest.raises(KeyError):
        await b.get_peer_by_username("alias")
    assert await a.update_state() == [(1, 1, 1, 1, 1)]
    assert (await a.auth_key(), await b.auth_key()) == (key_a, key_b)

    await a.close()
    await a.delete()
    assert await b.auth_key() == key_b
    assert (await b.get_peer_by_id(1)).access_hash == 20
    assert await b.update_state() == [(2, 2, 2, 2, 2)]
    db = conn[database]
    for collection in ("session", "peers", "usernames", "update_state"):
        assert await db[collection].count_documents({"session": "alice"}) == 0
    assert await db["peers"].count_documents({"session": "bob"}) == 2
    assert db_name("alice") not in await conn.list_database_names()
    await b.close()


# --- remove_peers ----------------------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["default", "shared"])
async def test_remove_peers_wipes_the_peer_cache(
    conn: Any, db_name: Callable[[str], str], shared: bool
) -> None:
    database = db_name("wipe") if shared else None
    name = "acct" if shared else db_name("acct")
    s = MongoStorage(name, conn, remove_peers=True, database=database)
    await s.open()
    await log_in(s)
    await s.update_peers([(i, i, "user", f"u{i}", None) for i in range(1, 51)])
    await s.update_usernames([(1, "extra")])
    await s.update_state((1, 1, 1, 1, 1))
    await s.close()
    await s.delete()

    db = conn[database or name]
    for collection in ("session", "peers", "usernames", "update_state"):
        assert await db[collection].count_documents({}) == 0, collection


async def test_peer_cache_is_kept_by_default(conn: Any, db_name: Callable[[str], str]) -> None:
    name = db_name("keep")
    s = MongoStorage(name, conn)
    await s.open()
    await log_in(s)
    await s.update_peers([(5, 55, "user", "five", None)])
    await s.update_state((5, 1, 1, 1, 1))
    await s.close()
    await s.delete()

    fresh = MongoStorage(name, conn)
    await fresh.open()
    try:
        assert await fresh.auth_key() is None
        assert await fresh.update_state() == []
        assert (await fresh.get_peer_by_username("five")).access_hash == 55
    finally:
        await fresh.close()


# --- indexes and round trips ---------------------------------------------------------------


async def _indexed_fields(collection: Any) -> set[tuple[str, ...]]:
    cursor = collection.list_indexes()
    if not hasattr(cursor, "__aiter__"):  # pymongo's list_indexes is itself a coroutine
        cursor = await cursor
    return {tuple(index["key"]) async for index in cursor}


@pytest.mark.parametrize("shared", [False, True], ids=["default", "shared"])
async def test_lookup_indexes_exist_and_are_created_once(
    conn: Any, db_name: Callable[[str], str], shared: bool
) -> None:
    database = db_name("idx") if shared else None
    name = "acct" if shared else db_name("acct")
    scope = ("session",) if shared else ()
    db = conn[database or name]
    for _ in range(2):
        s = MongoStorage(name, conn, database=database)
        await s.open()
        await s.close()
        peers = await _indexed_fields(db["peers"])
        usernames = await _indexed_fields(db["usernames"])
        assert {(*scope, "username"), (*scope, "phone_number")} <= peers
        assert (*scope, "peer_id") in usernames
        assert len(peers) == 3  # _id, username, phone number: opening again adds none


async def test_update_peers_is_one_round_trip(mongo_clients: MongoClients) -> None:
    """Counted with pymongo's command monitoring on a real client."""

    class Commands(monitoring.CommandListener):
        def __init__(self) -> None:
            self.names: list[str] = []

        def started(self, event: monitoring.CommandStartedEvent) -> None:
            self.names.append(event.command_name)

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            pass

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            pass

    listener = Commands()
    client: Any = pymongo.AsyncMongoClient(mongo_clients.server.uri, event_listeners=[listener])
    mongo_clients.opened.append(client)
    s = MongoStorage(f"{mongo_clients.prefix}bulk", client)
    await s.open()
    try:
        listener.names.clear()
        await s.update_peers([(i, i, "user", f"u{i}", None) for i in range(1, 1001)])
        assert listener.names == ["update"]
        listener.names.clear()
        await s.update_usernames([(1, "a"), (1, "b"), (2, "c")])
        assert listener.names in (["delete", "update"], ["bulkWrite"])
    finally:
        await s.close()


# --- lease ---------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    import pymongo
    from vault.storage import MongoStorage

    async def main() -> None:
        client = pymongo.AsyncMongoClient(sys.argv[1])
        storage = MongoStorage(sys.argv[2], client, lease=True, lease_timeout=60)
        await storage.open()
        print("open", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await storage.close()
        await client.close()
        print("closed", flush=True)

    asyncio.run(main())
    """
)


@pytest.fixture
def holder(mongo_clients: MongoClients) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """Start another process that opens a session with a lease and waits for a line."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, mongo_clients.server.uri, name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline() == "open\n"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


async def test_lease_keeps_a_second_process_out_until_released(
    mongo_clients: MongoClients, holder: Callable[[str], subprocess.Popen[str]]
) -> None:
    name = f"{mongo_clients.prefix}leased"
    other = holder(name)
    conn = mongo_clients.connect("pymongo")
    s = MongoStorage(name, conn, lease=True)
    with pytest.raises(SessionInUseError, match="open in another process"):
        await s.open()
    with pytest.raises(SessionInUseError):
        await MongoStorage(name, conn).delete()

    out, _ = other.communicate("\n", timeout=30)
    assert out == "closed\n" and other.returncode == 0
    await s.open()  # the same object, retried after the lease was released
    try:
        lease = (await conn[name]["session"].find_one({"_id": 0}))["lease"]
        assert lease["owner"].split(":")[1] == str(os.getpid())
    finally:
        await s.close()
    assert "lease" not in await conn[name]["session"].find_one({"_id": 0})


async def test_a_stale_lease_of_a_dead_process_is_taken_over(
    mongo_clients: MongoClients,
    holder: Callable[[str], subprocess.Popen[str]],
    clock: Callable[[float], None],
) -> None:
    name = f"{mongo_clients.prefix}stale"
    other = holder(name)
    other.send_signal(signal.SIGKILL)
    other.wait()
    conn = mongo_clients.connect("pymongo")
    s = MongoStorage(name, conn, lease=True)
    with pytest.raises(SessionInUseError):
        await s.open()  # the dead owner's lease is still fresh
    clock(61)
    await s.open()
    await s.close()


async def test_an_instance_that_lost_its_lease_refuses_use(
    conn: Any, db_name: Callable[[str], str], clock: Callable[[float], None]
) -> None:
    first = MongoStorage(db_name("lost"), conn, lease=True, lease_timeout=30)
    await first.open()
    clock(20)
    assert await first._renew_lease()  # the heartbeat's step: the lease now runs 30 s from here
    clock(20)
    with pytest.raises(SessionInUseError):
        await MongoStorage(db_name("lost"), conn, lease=True).open()

    clock(31)
    second = MongoStorage(db_name("lost"), conn, lease=True, lease_timeout=30)
    await second.open()
    assert not await first._renew_lease()
    with pytest.raises(SessionInUseError, match="lost its lease"):
        await first.dc_id()
    await first.close()
    assert await second.dc_id() == 2  # first's close() left second's lease alone
    session = await conn[db_name("lost")]["session"].find_one({"_id": 0})
    assert session["lease"]["owner"] == second._owner
    await second.close()


async def test_a_lease_that_could_not_be_renewed_in_time_is_given_up(
    mongo_clients: MongoClients, clock: Callable[[float], None]
) -> None:
    """The heartbeat keeps failing (its client was closed: a real failure of every call)
    until the lease has run out; from then on another process may take the session, so this
    instance refuses use."""
    conn = mongo_clients.connect("pymongo")
    s = MongoStorage(f"{mongo_clients.prefix}unrenewed", conn, lease=True, lease_timeout=3)
    await s.open()
    await conn.close()
    await asyncio.sleep(1.5)  # a beat (every second) failed, but the lease runs 2 s more
    assert not s._lease_lost
    clock(10)
    for _ in range(50):
        await asyncio.sleep(0.1)
        if s._lease_lost:
            break
    with pytest.raises(SessionInUseError, match="lost its lease"):
        await s.dc_id()
    await s.close()  # nothing to release: the lease is no longer ours


async def test_lease_and_delete_act_on_their_own_shared_session_only(
    conn: Any, db_name: Callable[[str], str]
) -> None:
    """In one shared database, a stale lease left on session ``a`` is not what opening or
    deleting session ``b`` matches (nx-27017 once applied ``{_id, $or}`` filters to ``a``)."""
    shared = db_name("shared")
    for name in ("a", "b"):
        await MongoStorage(name, conn, database=shared).open()
    sessions = conn[shared]["session"]
    stale = {"owner": "dead:1:0", "expires": 1}
    await sessions.update_one({"_id": "a"}, {"$set": {"lease": stale}})

    b = MongoStorage("b", conn, database=shared, lease=True)
    await b.open()
    assert (await sessions.find_one({"_id": "a"}))["lease"] == stale
    assert (await sessions.find_one({"_id": "b"}))["lease"]["owner"] == b._owner
    await b.delete()

    assert await sessions.find_one({"_id": "b"}) is None
    assert (await sessions.find_one({"_id": "a"}))["lease"] == stale


# --- encryption at rest --------------------------------------------------------------------


async def test_encrypted_auth_key_is_an_envelope_in_the_session_document(
    conn: Any, db_name: Callable[[str], str]
) -> None:
    name = db_name("sealed")
    storage = EncryptedStorage(MongoStorage(name, conn), passphrase="pw", kdf=CHEAP_KDF)
    await storage.open()
    key = await log_in(storage)
    await storage.close()

    stored = (await conn[name]["session"].find_one({"_id": 0}))["auth_key"]
    assert isinstance(stored, bytes) and len(stored) > 256
    assert key not in stored and key[:32] not in stored

    reopened = EncryptedStorage(MongoStorage(name, conn), passphrase="pw", kdf=CHEAP_KDF)
    await reopened.open()
    try:
        assert await reopened.auth_key() == key
    finally:
        await reopened.close()


@pytest.mark.parametrize("migrate", [False, True], ids=["plain", "migrate"])
async def test_a_plaintext_key_planted_in_an_encrypted_document_is_never_accepted(
    conn: Any, db_name: Callable[[str], str], migrate: bool
) -> None:
    """An attacker with write access to the document replaces the sealed key with theirs."""
    name = db_name("planted")
    storage = EncryptedStorage(MongoStorage(name, conn), passphrase="pw", kdf=CHEAP_KDF)
    await storage.open()
    await log_in(storage)
    await storage.close()
    planted = os.urandom(256)
    await conn[name]["session"].update_one({"_id": 0}, {"$set": {"auth_key": planted}})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        storage = EncryptedStorage(
            MongoStorage(name, conn), passphrase="pw", kdf=CHEAP_KDF, migrate=migrate
        )
    with pytest.raises(PlaintextSessionError, match="write access"):
        await storage.open()
    assert (await conn[name]["session"].find_one({"_id": 0}))["auth_key"] == planted
