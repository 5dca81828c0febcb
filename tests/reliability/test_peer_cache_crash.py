"""The crash window of the written-behind peer cache: a child making one-row
``update_peers`` calls (and now and then an ``update_state``) is SIGKILLed at random moments.

After every kill the stored peers must be exactly the first N written (no gaps: writes are
committed in order), every peer written before the last confirmed ``update_state`` must be
there (the state write commits the peer cache with it), and the peer writes lost are only
those that returned within the last moments before the kill. That window is measured and
recorded; its bound is checked only loosely (a guard, far above ``FLUSH_DELAY``: the machine
may be loaded), since this is no speed test.
"""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
import time
from pathlib import Path

from vault.storage import FileStorage

from . import _peer_writer
from ._support import Tally, scaled

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([_peer_writer.__name__])
MAX_DELAY = 0.4
#: Far above FLUSH_DELAY: a loaded machine may run the child's event loop late.
WINDOW_GUARD = 5.0


def _stored(workdir: Path) -> tuple[int, int]:
    """``(count, max id)`` of the stored peers, read as the next process would (``(0, 0)``
    before the schema exists)."""
    storage_file = workdir / (_peer_writer.NAME + FileStorage.FILE_EXTENSION)
    conn = sqlite3.connect(storage_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'peers'").fetchall()
        if not tables:  # killed while the session was being created
            return 0, 0
        count, top = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM peers").fetchone()
        return int(count), int(top)
    finally:
        conn.close()


def _one_kill(workdir: Path, delay: float) -> tuple[int, float]:
    """Kill a fresh writer after ``delay`` s; return (peer writes lost, their window in s)."""
    for leftover in workdir.iterdir():
        leftover.unlink()
    reader, writer = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_peer_writer.run, args=(str(workdir), writer), daemon=True)
    child.start()
    writer.close()
    messages: list[tuple[int, int, float]] = []
    deadline = time.monotonic() + delay
    while (left := deadline - time.monotonic()) > 0:
        if reader.poll(min(left, 0.01)):
            messages.append(_peer_writer.decode(reader.recv_bytes()))
    killed_at = time.monotonic()
    child.kill()
    child.join(30)
    assert child.exitcode == -9, f"the child ended by itself (exit code {child.exitcode})"
    try:
        while reader.poll(0):
            messages.append(_peer_writer.decode(reader.recv_bytes()))
    except EOFError:
        pass
    reader.close()
    if not (workdir / (_peer_writer.NAME + FileStorage.FILE_EXTENSION)).exists():
        return 0, 0.0
    count, top = _stored(workdir)
    assert count == top, f"the stored peers have gaps: {count} peers, highest id {top}"
    states = [index for kind, index, _ in messages if kind == 1]
    if states:
        assert top >= states[-1] + 1, "a peer written before a confirmed update_state was lost"
    lost = [at for kind, index, at in messages if kind == 0 and index + 1 > top]
    window = killed_at - lost[0] if lost else 0.0
    assert window < WINDOW_GUARD, f"peer writes lost from {window:.3f} s before the kill"
    return len(lost), window


@scaled(normal=10, stress=100)
def test_sigkill_loses_only_the_last_moments_of_peer_cache_writes(
    tmp_path: Path, tally: Tally, count: int
) -> None:
    rng = random.Random(count)
    results = [_one_kill(tmp_path, rng.uniform(0.05, MAX_DELAY)) for _ in range(count)]
    windows = sorted(window for _, window in results)
    tally.record(
        "peer_cache_crash_window",
        kills=count,
        lost_writes=sum(lost for lost, _ in results),
        kills_losing_writes=sum(lost > 0 for lost, _ in results),
        window_max_ms=round(windows[-1] * 1000, 1),
        window_median_ms=round(windows[len(windows) // 2] * 1000, 1),
        flush_delay_ms=FileStorage.FLUSH_DELAY * 1000,
    )
    # The kills must have landed while peer writes were waiting, or the loop proves less.
    assert any(lost for lost, _ in results)
