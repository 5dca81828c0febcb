"""Make the real-client session fixtures in this folder, with each client's own storage classes.

Run it inside an environment where exactly one Pyrogram-family client is installed::

    python tests/data/make_sessions.py pyrofork    # -> pyrofork-2.3.69.session / .json
    python tests/data/make_sessions.py pyrogram    # -> pyrogram-2.0.106.session / .json
    python tests/data/make_sessions.py kurigram    # -> kurigram-2.2.26.session / .json

(for example ``nox -R -s compat-pyrofork -- --co`` makes the venv, then
``.nox/compat-pyrofork/bin/python tests/data/make_sessions.py pyrofork``).

Each ``.session`` file is written by the client's own storage: a logged-in session (dc, api id,
a made-up auth key, user id), peers of every type, extra usernames and update states where the
client has them. The ``.json`` beside it records what the file holds, the client's own session
string and the input peers the client returns, for ``tests/test_migrations.py`` to compare
against. The auth key is derived from a fixed seed: it is test data, not a credential.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import sqlite3
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

#: Client name -> distribution that installs it.
DISTRIBUTIONS = {"pyrofork": "pyrofork", "pyrogram": "Pyrogram", "kurigram": "kurigram"}

AUTH_KEY = b"".join(hashlib.sha256(b"session-vault fixture %d" % i).digest() for i in range(8))
SESSION = {
    "dc_id": 4,
    "api_id": 2040,
    "test_mode": False,
    "auth_key": AUTH_KEY,
    "user_id": 5_000_000_001,
    "is_bot": False,
}
#: (id, access_hash, type, username, phone_number)
PEERS = [
    (5_000_000_001, 0x1234_5678_9ABC, "user", "fixture_self", "15550001"),
    (6_000_000_002, -0x2233_4455_6677, "bot", "fixture_bot", None),
    (-4_000_003, None, "group", None, None),
    (-1_001_000_000_004, 0x7766_5544_3322, "channel", "fixture_channel", None),
    (-1_002_000_000_005, -0x0102_0304_0506, "supergroup", None, None),
]
#: Extra usernames: (peer id, username); the client's own lookup must find them.
USERNAMES = [(-1_002_000_000_005, "fixture_group_alias"), (-1_002_000_000_005, "fixture_group")]
#: (id, pts, qts, date, seq)
STATES = [(0, 4000, 12, 1_700_000_000, 77), (-1_001_000_000_004, 55, None, None, None)]


def _storage_module() -> Any:
    # Imported here: this script runs in a venv with one client, never under pytest.
    return importlib.import_module("pyrogram.storage")


def _open_storage(client: str) -> Any:
    if client == "kurigram":
        return _storage_module().SQLiteStorage(client, workdir=HERE)
    return _storage_module().FileStorage(client, HERE)


async def _fill(client: str, storage: Any) -> None:
    for field, value in SESSION.items():
        await getattr(storage, field)(value)
    if client == "kurigram":
        update_state = _storage_module().UpdateState
        await storage.update_peers([(p[0], p[1], p[2], p[4]) for p in PEERS])
        names: dict[int, list[str]] = {}
        for peer_id, _, _, username, _ in PEERS:
            if username:
                names.setdefault(peer_id, []).append(username)
        for peer_id, username in USERNAMES:
            names.setdefault(peer_id, []).append(username)
        await storage.update_usernames(list(names.items()))
        await storage.set_update_state([update_state(*state) for state in STATES])
        return
    await storage.update_peers(PEERS)
    if client == "pyrofork":
        await storage.update_usernames(USERNAMES)
        for state in STATES:
            await storage.update_state(state)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _input_peer(peer: Any) -> dict[str, Any]:
    # Raw TL objects keep their fields in __slots__.
    return {"type": type(peer).__name__, **{k: getattr(peer, k) for k in peer.__slots__}}


async def make(client: str) -> None:
    dist = DISTRIBUTIONS[client]
    stem = f"{client}-{version(dist)}"
    path = HERE / f"{client}.session"
    path.unlink(missing_ok=True)
    storage = _open_storage(client)
    await storage.open()
    await _fill(client, storage)
    await storage.save()
    lookups = {
        "by_id": {str(p[0]): _input_peer(await storage.get_peer_by_id(p[0])) for p in PEERS},
        "by_username": {
            name: _input_peer(await storage.get_peer_by_username(name))
            for name in [p[3] for p in PEERS if p[3]] + [u for _, u in USERNAMES]
            if client != "pyrogram" or name not in {u for _, u in USERNAMES}
        },
        "by_phone_number": {
            p[4]: _input_peer(await storage.get_peer_by_phone_number(p[4])) for p in PEERS if p[4]
        },
    }
    expected = {
        "client": dist,
        "client_version": version(dist),
        "schema_version": await _maybe_await(storage.version()),
        "session": {
            **SESSION,
            "auth_key": AUTH_KEY.hex(),
            "date": await storage.date(),
        },
        "session_string": await storage.export_session_string(),
        "peers": [list(p) for p in PEERS],
        "usernames": [list(u) for u in USERNAMES] if client != "pyrogram" else [],
        "update_state": [list(s) for s in STATES] if client != "pyrogram" else [],
        "lookups": lookups,
    }
    await storage.close()
    # Readers of the fixture see the username timestamps the client wrote.
    db = sqlite3.connect(path)
    expected["peers_last_update_on"] = db.execute(
        "SELECT MAX(last_update_on) FROM peers"
    ).fetchone()[0]
    db.close()
    path.rename(HERE / f"{stem}.session")
    (HERE / f"{stem}.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"wrote {stem}.session and {stem}.json (schema version {expected['schema_version']})")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in DISTRIBUTIONS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(DISTRIBUTIONS)}}}")
    asyncio.run(make(sys.argv[1]))
