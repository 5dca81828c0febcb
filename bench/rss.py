"""Peak resident memory of one contender holding N peers, measured in a process of its own.

``python -m bench.rss CONTENDER N`` prints ``before_kib peak_kib``: the process's RSS just
before the storage was opened (interpreter, client package, the peer rows) and at the end
(after update_peers of N peers, save() and a lookup of each peer by id).
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pyrogram.raw.types  # noqa: F401 - every contender returns these; load them first

from .contenders import contenders
from .data import make_peers


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _current_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


async def _measure(name: str, count: int) -> tuple[int, int]:
    contender = next(c for c in contenders() if c.name == name)
    peers = make_peers(count)
    with tempfile.TemporaryDirectory() as workdir:
        before = _current_kib()
        s = contender.make(Path(workdir), "rss")
        await s.open()
        await s.update_peers(peers)
        await s.save()
        for peer in peers:
            await s.get_peer_by_id(peer[0])
        peak = _peak_kib()
        await s.close()
    return before, peak


def measure(name: str, count: int) -> tuple[int, int]:
    """Run the measurement in a fresh interpreter; ``(before_kib, peak_kib)``."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.rss", name, str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[-2]), int(out[-1])


if __name__ == "__main__":
    before, peak = asyncio.run(_measure(sys.argv[1], int(sys.argv[2])))
    print(before, peak)
