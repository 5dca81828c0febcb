"""The command line seals the peer cache a MongoDB session already stores: ``encrypt`` that of
a plaintext session, ``seal-peers`` that of one encrypted without sealing; no plain username or
phone number is left in any document, lookups keep working through the library, after a
``passwd`` too, and ``decrypt`` empties the tokens. Against the real server of
``tests/servers.py``; the documents are read back with the driver."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Purpose, parse
from vault.crypto.sealer import holds_index_key
from vault.storage import MongoStorage

from .cli_helpers import CHEAP, cli_env, json_info, kill_moments, killed_cli, run_cli, timed_run
from .peer_cache_helpers import check_lookups, mongo_documents, plain_values_in, write_peers
from .reliability._support import Tally
from .servers import MongoClients

PASSPHRASE, NEW_PASSPHRASE = "mongo cache passphrase", "another mongo cache passphrase"
PEERS = 400
#: Lookups of both kinds of rows write_peers makes (five-field and Kurigram's four-field).
IDS = (1, PEERS // 2, PEERS // 2 + 1, PEERS)


@pytest.fixture
def conn(mongo_clients: MongoClients) -> Any:
    return mongo_clients.connect("pymongo")


@pytest.fixture
def env(mongo_clients: MongoClients) -> dict[str, str]:
    return cli_env(TEST_MONGO_URI=mongo_clients.server.uri, PW=PASSPHRASE, NEW_PW=NEW_PASSPHRASE)


def where(name: str, database: str | None) -> list[str]:
    shared = ["--database", database] if database else []
    return ["--mongo-uri-env", "TEST_MONGO_URI", "--name", name, *shared]


def place(mongo_clients: MongoClients, layout: str) -> tuple[str, str | None]:
    """A session name and its shared database (None: the default layout), dropped after."""
    prefix = mongo_clients.prefix
    return (f"{prefix}alice", None) if layout == "default" else ("bob", f"{prefix}shared")


async def make_session(
    conn: Any, name: str, database: str | None, count: int = PEERS, **vault: Any
) -> None:
    """A logged-in session with ``count`` peers; through EncryptedStorage when ``vault``."""
    inner = MongoStorage(name, conn, database=database)
    storage = EncryptedStorage(inner, kdf=CHEAP_KDF, **vault) if vault else inner
    await storage.open()
    try:
        await storage.auth_key(os.urandom(256))
        await write_peers(storage, count)
    finally:
        await storage.close()


async def lookups_work(
    conn: Any,
    name: str,
    database: str | None,
    passphrase: str,
    ids: tuple[int, ...] = IDS,
) -> None:
    """Every peer found through the library (by the stored values only, if still plain)."""
    storage = EncryptedStorage(MongoStorage(name, conn, database=database), passphrase=passphrase)
    await storage.open()
    try:
        await check_lookups(storage, ids, exact=not storage.peers_sealed)
    finally:
        await storage.close()


async def assert_sealed_cache(
    conn: Any, name: str, database: str | None, count: int = PEERS
) -> None:
    """No plain value in any document, and nothing of the sealing's steps left behind."""
    db = database or name
    data = await mongo_documents(conn, db)
    assert len(data) > count * 40  # the peers are there...
    assert plain_values_in(data) == []  # ...as tokens only
    for collection in ("session", "peers", "usernames"):
        async for doc in conn[db][collection].find({}):
            assert not {"peers_sealing", "sealing_username", "staged"} & set(doc), doc


@pytest.mark.parametrize("layout", ["default", "shared"])
async def test_encrypt_seals_the_stored_cache(
    mongo_clients: MongoClients, conn: Any, env: dict[str, str], layout: str
) -> None:
    name, database = place(mongo_clients, layout)
    await make_session(conn, name, database)
    assert plain_values_in(await mongo_documents(conn, database or name))  # the scan can fail

    done = run_cli("encrypt", *where(name, database), "--passphrase-env", "PW", *CHEAP, env=env)

    assert done.returncode == 0, done.stderr
    await assert_sealed_cache(conn, name, database)
    await lookups_work(conn, name, database, PASSPHRASE)
    facts = json_info(run_cli("info", "--json", *where(name, database), env=env))
    assert facts["peers_sealed"] is True and facts["peers"] == PEERS


async def test_seal_peers_seals_an_encrypted_session(
    mongo_clients: MongoClients, conn: Any, env: dict[str, str]
) -> None:
    name, database = place(mongo_clients, "shared")
    await make_session(conn, name, database, passphrase=PASSPHRASE, seal_peers=False)
    args = [*where(name, database), "--passphrase-env", "PW"]
    info = ["info", "--json", *where(name, database)]
    assert json_info(run_cli(*info, env=env))["peers_sealed"] is False

    done = run_cli("seal-peers", *args, env=env)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"sealed the peer cache of MongoDB session {name!r}")
    await assert_sealed_cache(conn, name, database)
    await lookups_work(conn, name, database, PASSPHRASE)
    assert json_info(run_cli(*info, env=env))["peers_sealed"] is True
    again = run_cli("seal-peers", *args, env=env)
    assert again.returncode == 0 and "already sealed" in again.stdout, again.stderr

    changed = run_cli("passwd", *args, "--new-passphrase-env", "NEW_PW", *CHEAP, env=env)
    assert changed.returncode == 0, changed.stderr
    await lookups_work(conn, name, database, NEW_PASSPHRASE)


async def test_decrypt_empties_the_tokens(
    mongo_clients: MongoClients, conn: Any, env: dict[str, str]
) -> None:
    name, database = place(mongo_clients, "default")
    await make_session(conn, name, database, passphrase=PASSPHRASE)

    unlock = ["--passphrase-env", "PW", "--confirm-plaintext"]
    done = run_cli("decrypt", *where(name, database), *unlock, env=env)

    assert done.returncode == 0, done.stderr
    peers = await conn[name].peers.find({}).to_list()
    assert len(peers) == PEERS
    assert {(p["username"], p["phone_number"]) for p in peers} == {(None, None)}
    assert await conn[name].usernames.count_documents({}) == 0


#: The crash loop: peers in the session (enough for the sealing to take a while), kills at
#: random moments, and kills aimed at the moment the index key is stored, at most.
KILL_PEERS, KILLS, ROUNDS = 3000, 5, 3
KILL_IDS = (1, KILL_PEERS // 2, KILL_PEERS // 2 + 1, KILL_PEERS)


async def dump(conn: Any, database: str) -> dict[str, list[dict[str, Any]]]:
    db = conn[database]
    return {name: await db[name].find({}).to_list() for name in await db.list_collection_names()}


async def restore(conn: Any, database: str, pristine: dict[str, list[dict[str, Any]]]) -> None:
    await conn.drop_database(database)
    for name, docs in pristine.items():
        await conn[database][name].insert_many(docs)


async def sealing_step(conn: Any, database: str) -> tuple[str, tuple[int, ...]]:
    """Where a killed ``seal-peers`` left the session: ``plain`` (no sealing begun),
    ``staging`` (begun, no index key stored), ``staged`` (index key stored, some peers' tokens
    still only staged: found by the fallback lookups alone), ``finishing`` (the rest of the
    work) or ``sealed``; and the ids of a few peers whose tokens are still only staged."""
    db = conn[database]
    doc = await db.session.find_one({"_id": 0})
    keyed = holds_index_key(parse(bytes(doc["auth_key"]), Purpose.AUTH_KEY))
    staged = tuple(d["_id"] for d in await db.peers.find({"staged": True}).limit(3).to_list())
    if "peers_sealing" not in doc:
        return ("sealed" if keyed else "plain"), staged
    if not keyed:
        return "staging", ()
    return ("staged" if staged else "finishing"), staged


async def test_sigkill_during_seal_peers_keeps_lookups_working(
    mongo_clients: MongoClients, conn: Any, env: dict[str, str]
) -> None:
    """After a kill at any moment the library finds every peer by every value (plain or
    sealed, whichever the stored envelope says), and a rerun finishes the sealing. The kills
    land at random moments, then (up to ``ROUNDS`` times, until one lands before the tokens
    are in place) as soon as the index key is seen on the server."""
    name, _ = place(mongo_clients, "default")
    await make_session(conn, name, None, KILL_PEERS, passphrase=PASSPHRASE, seal_peers=False)
    pristine = await dump(conn, name)
    argv = ["seal-peers", *where(name, None), "--passphrase-env", "PW"]
    steps: Counter[str] = Counter()

    async def keyed() -> bool:
        return (await sealing_step(conn, name))[0] in ("staged", "finishing", "sealed")

    took = timed_run(*argv, env=env)
    moments = [(delay, None) for delay in kill_moments(took, KILLS, seed=11)]
    for delay, when in [*moments, *[(3 * took, keyed)] * ROUNDS]:
        if when is keyed and steps["staged"]:
            break
        await restore(conn, name, pristine)
        await killed_cli(argv, env, delay, when)
        step, staged = await sealing_step(conn, name)
        steps[step] += 1
        facts = json_info(run_cli("info", "--json", *where(name, None), env=env))
        sealed = (facts["peers_sealed"], facts["peers_sealing_unfinished"])
        assert sealed == (step == "sealed", step in ("staged", "finishing"))
        await lookups_work(conn, name, None, PASSPHRASE, (*KILL_IDS, *staged))
        # The dead command's lease as it is once it has run out (see test_cli_mongo_crash).
        await conn[name].session.update_one({"_id": 0}, {"$unset": {"lease": ""}})
        again = run_cli(*argv, env=env)
        assert again.returncode == 0, again.stderr
        assert await sealing_step(conn, name) == ("sealed", ())
        await assert_sealed_cache(conn, name, None, KILL_PEERS)
        await lookups_work(conn, name, None, PASSPHRASE, KILL_IDS)
    tally = Tally("default")
    tally.record("mongo_seal_peers_crash_loop", kills=sum(steps.values()), **steps)
    tally.write()
    assert steps["staged"], steps  # a kill landed where only the fallback lookups find peers
