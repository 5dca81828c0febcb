"""vault's MongoStorage (plain and encrypted) against Pyrofork's, on the same server and driver
(pymongo's ``AsyncMongoClient``): a throwaway ``nx-27017`` server, or the real server that
``MONGODB_URI`` names."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from .contenders import RAW_KEY
from .data import PeerRow, make_peers, shuffle
from .workloads import Sample, timed

#: ``(workload, contender, median seconds per op, longest stall)``
Row = tuple[str, str, float, float]
PYROFORK = "Pyrofork Mongo"
_EMULATION = "a MongoDB wire-protocol server on SQLite: an emulation"


def _server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nx-27017"
    return str(beside) if beside.exists() else shutil.which("nx-27017")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _server() -> Iterator[tuple[str, str] | None]:
    """``(uri, what it is)`` of the server to use, or None where there is none."""
    if uri := os.environ.get("MONGODB_URI"):
        yield uri, "the MongoDB server `MONGODB_URI` names"
        return
    binary = _server_binary()
    if binary is None:
        yield None
        return
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        argv = [binary, "--host", "127.0.0.1", "-p", str(port), "--data-dir", "memory"]
        argv += ["--log-file", str(Path(workdir) / "server.log")]
        argv += ["--pid-file", str(Path(workdir) / "pid")]
        out = (Path(workdir) / "stdout.log").open("wb")
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            uri = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=5000"
            _wait(uri)
            yield uri, f"`nx-27017` started for the run ({_EMULATION})"
        finally:
            server.terminate()
            server.wait(timeout=10)
            out.close()


def _contenders(client: Any) -> list[tuple[str, Callable[[str], Any]]]:
    from pyrogram.storage.mongo_storage import MongoStorage as Pyrofork  # noqa: PLC0415

    from vault import EncryptedStorage  # noqa: PLC0415
    from vault.storage.mongo import MongoStorage  # noqa: PLC0415 - optional backend

    return [
        ("vault Mongo", lambda name: MongoStorage(name, client)),
        (
            "vault Encrypted(Mongo)",
            lambda name: EncryptedStorage(MongoStorage(name, client), key=RAW_KEY),
        ),
        (PYROFORK, lambda name: Pyrofork(name, client)),
    ]


async def _lookups(find: Callable[[Any], Awaitable[Any]], keys: list[Any]) -> Sample:
    async with timed(len(keys)) as t:
        for key in keys:
            await find(key)
    assert t.sample is not None
    return t.sample


async def _one_round(storage: Any, rows: list[PeerRow]) -> dict[str, Sample]:
    ids = shuffle([p[0] for p in rows])
    names = shuffle([p[3] for p in rows if p[3]])
    phones = shuffle([p[4] for p in rows if p[4]])
    await storage.open()
    try:
        await storage.auth_key(bytes(range(256)))
        async with timed(len(rows)) as t:
            await storage.update_peers(rows)
        assert t.sample is not None
        return {
            f"update_peers {len(rows):,}": t.sample,
            "lookup by id (cold)": await _lookups(storage.get_peer_by_id, ids),
            "lookup by username (cold)": await _lookups(storage.get_peer_by_username, names),
            "lookup by phone (cold)": await _lookups(storage.get_peer_by_phone_number, phones),
        }
    finally:
        await storage.close()


async def run(peers: int, rounds: int) -> tuple[str, list[Row]]:
    """What the server is, and the rows; no rows when pymongo, Pyrofork or a server is not
    available. Each round runs every contender on its own database, in alternating order."""
    if importlib.util.find_spec("pymongo") is None or importlib.util.find_spec("pyrogram") is None:
        return "", []
    import pymongo  # noqa: PLC0415

    with _server() as found:
        if found is None:
            return "", []
        uri, what = found
        client: pymongo.AsyncMongoClient[dict[str, Any]] = pymongo.AsyncMongoClient(uri)
        samples: dict[tuple[str, str], list[Sample]] = {}
        try:
            contenders = _contenders(client)
            rows = make_peers(peers)
            runs = 0
            for r in range(rounds):
                shift = r % len(contenders)
                for name, make in contenders[shift:] + contenders[:shift]:
                    runs += 1
                    database = f"vault_bench_{os.getpid()}_{runs}"
                    try:
                        for workload, sample in (await _one_round(make(database), rows)).items():
                            samples.setdefault((workload, name), []).append(sample)
                    finally:
                        await client.drop_database(database)
        finally:
            await client.close()
    return what, [_row(w, c, found) for (w, c), found in samples.items()]


def _wait(uri: str) -> None:
    import pymongo  # noqa: PLC0415

    deadline = time.monotonic() + 30
    while True:
        try:
            probe: pymongo.MongoClient[dict[str, object]]
            with pymongo.MongoClient(uri, serverSelectionTimeoutMS=500) as probe:
                probe.admin.command("ping")
                return
        except pymongo.errors.PyMongoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _row(workload: str, contender: str, samples: list[Sample]) -> Row:
    per_op = sorted(s.seconds / s.ops for s in samples)[len(samples) // 2]
    return workload, contender, per_op, max(s.stall for s in samples)


__all__ = ["PYROFORK", "Row", "run"]
