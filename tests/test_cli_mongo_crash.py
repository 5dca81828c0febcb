"""``session-vault encrypt --mongo-uri`` killed with SIGKILL at moments spread over its whole
run, against the real server of ``tests/servers.py``: every time, each session document must
hold the original plaintext auth key or an envelope that opens with the passphrase to that same
key (never neither), its other fields untouched; and a rerun must finish the job.

A killed command can leave its lease in the document. A rerun right away must then refuse that
session if it is still plaintext (exit code 5) and change nothing; an encrypted one it skips.
The lease lasts ``LEASE_TIMEOUT`` (30 s) and the CLI has no option to shorten it, so instead of
waiting, the test moves the lease's expiry into the past in the raw document: the server state
30 s would leave. The rerun then takes the stale lease over through ``MongoStorage``'s own code.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from .cli_helpers import (
    CHEAP,
    assert_sealed,
    cli_env,
    kill_moments,
    killed_cli,
    make_mongo_session,
    open_key,
    raw,
    run_cli,
    timed_run,
)
from .reliability._support import Tally
from .servers import MongoClients

PASSPHRASE = "kill me softly"
IN_USE = 5  # the exit code of a session whose lease another process holds
#: Rounds of kills at most, when the first ones all landed on one side of the write.
ROUNDS = 3
#: A session: its name and its database (None: the default layout's own database).
Session = tuple[str, "str | None"]


@dataclass(frozen=True)
class Case:
    """Sessions (name, database or None) and the ``encrypt`` options that reach them."""

    sessions: tuple[Session, ...]
    where: tuple[str, ...]

    def argv(self) -> list[str]:
        pw = ["--passphrase-env", "PW", *CHEAP]
        return ["encrypt", "--mongo-uri-env", "TEST_MONGO_URI", *self.where, *pw]


def _case(layout: str, prefix: str) -> Case:
    shared = f"{prefix}shared"
    if layout == "default":
        name = f"{prefix}alice"
        return Case(((name, None),), ("--name", name))
    if layout == "shared":
        return Case((("bob", shared),), ("--name", "bob", "--database", shared))
    names = ("s1", "s2", "s3")
    return Case(tuple((n, shared) for n in names), ("--database", shared, "--all"))


def _document(conn: Any, session: tuple[str, str | None]) -> tuple[Any, dict[str, Any]]:
    """The collection holding ``session``'s document, and a filter for it."""
    name, database = session
    if database is None:
        return conn[name].session, {"_id": 0}
    return conn[database].session, {"_id": name}


def _fresh_lease(doc: dict[str, Any]) -> bool:
    lease = doc.get("lease")
    return isinstance(lease, dict) and float(lease["expires"]) > time.time()


def _without(doc: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in fields}


async def _state(
    conn: Any, session: tuple[str, str | None], key: bytes, before: dict[str, Any]
) -> str:
    """``"plain"`` or ``"encrypted"``; fails the test unless the document gives ``key`` (read
    raw and through MongoStorage/EncryptedStorage) and its other fields are as they were (but
    for the mark of a sealing of the peer cache in progress, which a rerun finishes)."""
    doc = await raw(conn, *session)
    assert doc.get("auth_key"), "the session lost its auth key"
    moving = ("auth_key", "lease", "peers_sealing")
    assert _without(doc, *moving) == _without(before, *moving)
    if bytes(doc["auth_key"]) == key:
        assert await open_key(conn, *session) == key
        return "plain"
    assert_sealed(doc, key)
    assert await open_key(conn, *session, passphrase=PASSPHRASE) == key
    return "encrypted"


async def _put_back(conn: Any, case: Case, pristine: dict[Any, dict[str, Any]]) -> None:
    for session in case.sessions:
        collection, where = _document(conn, session)
        # $set rather than replace_one: nx-27017 refuses binary values in a replacement.
        await collection.update_one(
            where, {"$set": _without(pristine[session], "_id"), "$unset": {"lease": ""}}
        )


async def _age_leases(conn: Any, case: Case) -> None:
    """The documents as they are once the killed command's lease has run out."""
    for session in case.sessions:
        collection, where = _document(conn, session)
        await collection.update_one(
            {**where, "lease": {"$exists": True}},
            {"$set": {"lease.expires": int(time.time()) - 1}},
        )


async def kill_loop(
    mongo_clients: MongoClients, layout: str, kills: int, seed: int, run: str
) -> Counter[str]:
    conn = mongo_clients.connect("pymongo")
    case = _case(layout, mongo_clients.prefix)
    env = cli_env(TEST_MONGO_URI=mongo_clients.server.uri, PW=PASSPHRASE)
    keys = {s: await make_mongo_session(conn, *s) for s in case.sessions}
    pristine = {s: await raw(conn, *s) for s in case.sessions}

    outcomes: Counter[str] = Counter()
    # On a loaded machine a run's length drifts, so the kills may all land on one side of the
    # write: then the length is measured again and another round of kills made (bounded).
    for attempt in range(ROUNDS):
        if attempt and _landed_both_sides(outcomes):
            break
        await _kill_round(conn, case, env, keys, pristine, outcomes, kills, seed + attempt)
    tally = Tally(run)
    tally.record(f"mongo_cli_crash_loop[{layout}]", kills=kills, seed=seed, **outcomes)
    tally.write()
    return outcomes


async def _kill_round(
    conn: Any,
    case: Case,
    env: dict[str, str],
    keys: dict[Session, bytes],
    pristine: dict[Session, dict[str, Any]],
    outcomes: Counter[str],
    kills: int,
    seed: int,
) -> None:
    durations = []
    for _ in range(2):
        durations.append(timed_run(*case.argv(), env=env))
        await _put_back(conn, case, pristine)
    for delay in kill_moments(max(durations), kills, seed):
        outcomes["kills made"] += 1
        await _put_back(conn, case, pristine)
        outcomes["finished before the kill"] += await killed_cli(case.argv(), env, delay)
        states, leased = {}, []
        for session in case.sessions:
            states[session] = await _state(conn, session, keys[session], pristine[session])
            outcomes[f"sessions left {states[session]}"] += 1
            if _fresh_lease(await raw(conn, *session)):
                leased.append(session)
                outcomes[f"leases left on {states[session]} sessions"] += 1

        if any(states[s] == "plain" for s in leased):
            # The dead command's lease still counts: a rerun now must not touch that session.
            early = run_cli(*case.argv(), env=env)
            assert early.returncode == IN_USE, early.stderr
            assert "open in another process" in early.stderr
            for session in leased:
                if states[session] == "plain":
                    assert bytes((await raw(conn, *session))["auth_key"]) == keys[session]
            outcomes["reruns refused while the lease held"] += 1
        await _age_leases(conn, case)

        again = run_cli(*case.argv(), env=env)
        assert again.returncode == 0, again.stderr
        assert len(again.stdout.splitlines()) == len(case.sessions), again.stdout
        for session in case.sessions:
            assert await _state(conn, session, keys[session], pristine[session]) == "encrypted"
            assert not _fresh_lease(await raw(conn, *session))
            assert "peers_sealing" not in await raw(conn, *session)


def _landed_both_sides(outcomes: Counter[str]) -> bool:
    return outcomes["sessions left plain"] > 0 and outcomes["sessions left encrypted"] > 0


def _check(outcomes: Counter[str]) -> None:
    """The kills must have landed on both sides of the write, not all before or after it."""
    assert _landed_both_sides(outcomes), outcomes


LAYOUTS = ["default", "shared", "all"]


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_sigkill_during_mongo_encrypt_leaves_old_or_new(
    mongo_clients: MongoClients, layout: str
) -> None:
    _check(await kill_loop(mongo_clients, layout, kills=5, seed=7, run="default"))


@pytest.mark.stress
@pytest.mark.parametrize("layout", LAYOUTS)
async def test_sigkill_during_mongo_encrypt_stress(
    mongo_clients: MongoClients, layout: str
) -> None:
    _check(await kill_loop(mongo_clients, layout, kills=34, seed=int(time.time()), run="stress"))
