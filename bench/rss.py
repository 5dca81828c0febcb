"""Peak resident memory of one contender holding N peers, measured in a process of its own.

``python -m bench.rss CONTENDER N`` prints ``before_kib peak_kib``: the process's RSS just
before the storage was opened (interpreter, client package, the peer rows) and at the end
(after update_peers of N peers, save() and a lookup of each peer by id).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import pyrogram.raw.types  # noqa: F401 - every contender returns these; load them first

from .contenders import memory_contenders
from .data import make_peers


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure: VmRSS (now) or VmHWM (peak since this program began;
    unlike ``ru_maxrss`` it does not carry over the parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


async def _measure(name: str, count: int) -> tuple[int, int]:
    contender = next(c for c in memory_contenders() if c.name == name)
    peers = make_peers(count)
    with tempfile.TemporaryDirectory() as workdir:
        before = _status_kib("VmRSS")
        s = contender.make(Path(workdir), "rss")
        await s.open()
        await s.update_peers(peers)
        await s.save()
        for peer in peers:
            await s.get_peer_by_id(peer[0])
        peak = _status_kib("VmHWM")
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
