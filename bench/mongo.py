"""vault MongoStorage against a throwaway ``nx-27017`` server, reported apart (an emulation)."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .data import make_peers, shuffle
from .workloads import Sample, timed


def _server_binary() -> str | None:
    beside = Path(sys.executable).parent / "nx-27017"
    return str(beside) if beside.exists() else shutil.which("nx-27017")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(peers: int, rounds: int) -> list[tuple[str, float, float]]:
    """``(workload, median seconds per op, longest stall)`` rows; empty when MongoStorage,
    pymongo or the server is not available."""
    binary = _server_binary()
    if binary is None or importlib.util.find_spec("pymongo") is None:
        return []
    try:
        from vault.storage.mongo import MongoStorage  # noqa: PLC0415 - optional backend
    except ImportError:
        return []
    import pymongo  # noqa: PLC0415

    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        log = Path(workdir) / "server.log"
        out = Path(workdir) / "stdout.log"
        argv = [binary, "--host", "127.0.0.1", "-p", str(port), "--data-dir", "memory"]
        argv += ["--log-file", str(log), "--pid-file", str(Path(workdir) / "pid")]
        server = subprocess.Popen(
            argv, stdout=out.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            uri = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=5000"
            _wait(uri)
            client: pymongo.AsyncMongoClient[dict[str, object]] = pymongo.AsyncMongoClient(uri)
            try:
                rows = make_peers(peers)
                ids = [p[0] for p in rows]
                shuffle(ids)
                writes: list[Sample] = []
                reads: list[Sample] = []
                for r in range(rounds):
                    s = MongoStorage(f"bench{r}", client)
                    await s.open()
                    async with timed(len(rows)) as t:
                        await s.update_peers(rows)
                    assert t.sample is not None
                    writes.append(t.sample)
                    async with timed(len(ids)) as t:
                        for peer_id in ids:
                            await s.get_peer_by_id(peer_id)
                    assert t.sample is not None
                    reads.append(t.sample)
                    await s.delete()
                    await s.close()
            finally:
                await client.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    return [_row(f"update_peers {peers}", writes), _row("lookup by id (cold)", reads)]


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


def _row(name: str, samples: list[Sample]) -> tuple[str, float, float]:
    per_op = sorted(s.seconds / s.ops for s in samples)[len(samples) // 2]
    return name, per_op, max(s.stall for s in samples)


__all__ = ["run"]
