"""Crash safety: a child writing to a FileStorage is SIGKILLed at random moments.

After every kill the session must open, its schema must be intact, and each field must hold a
value that was really written, no older than the last write whose call had returned (every
write is committed when its call returns) and no newer than the last write the child began.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from vault.storage import FileStorage, Storage

from . import _writer
from ._support import Tally, scaled

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload([_writer.__name__])
#: Kills land uniformly in this many seconds after the child starts; every fourth one lands in
#: the first EARLY_DELAY seconds, while the child is still starting or opening the session.
MAX_DELAY = 0.25
EARLY_DELAY = 0.005


@dataclass
class Ledger:
    """What the parent knows about each field: last confirmed write and last write begun."""

    confirmed: dict[int, int] = field(default_factory=dict)
    begun: int = -1

    def take(self, messages: list[tuple[int, int]], start: int) -> None:
        # The child may have begun the iteration after its last message, or `start`.
        self.begun = max(self.begun, start)
        for step, index in messages:
            self.confirmed[step] = index
            self.begun = max(self.begun, index + (step == len(_writer.STEPS) - 1))

    def check(self, step: int, stored: int | None) -> bool:
        """Whether ``stored`` is acceptable for ``step``; True if it was newer than confirmed."""
        floor = self.confirmed.get(step)
        if stored is None:
            assert floor is None, f"{_writer.STEPS[step]}: a confirmed write was lost"
            return False
        assert floor is None or stored >= floor, (
            f"{_writer.STEPS[step]}: holds write {stored}, older than confirmed {floor}"
        )
        assert stored <= self.begun, f"{_writer.STEPS[step]}: holds a write never begun"
        return stored != floor


async def _verify(workdir: Path, encrypted: bool, ledger: Ledger) -> int:
    """Open the session after a kill and check it; return how many fields held a write that
    was committed but not yet confirmed."""
    storage = _writer.make_storage(workdir, encrypted)
    await storage.open()
    try:
        inner = getattr(storage, "inner", storage)
        assert isinstance(inner, FileStorage)
        assert await inner.version() == FileStorage.VERSION
        assert inner.conn is not None
        assert await inner.conn.execute_fetchall("PRAGMA integrity_check") == [("ok",)]
        return await _check_fields(storage, ledger)
    finally:
        await storage.close()


async def _check_fields(storage: Storage, ledger: Ledger) -> int:
    key = await storage.auth_key()
    key_index = None
    if key is not None:
        key_index = int.from_bytes(key[:8], "big")
        assert key == _writer.auth_key_for(key_index), "the auth key is not a written value"
    hashes = set()
    for peer in range(1, _writer.PEERS + 1, 97):
        try:
            hashes.add((await storage.get_peer_by_id(peer)).access_hash)
        except KeyError:
            hashes.add(None)
    except_none = hashes - {None}
    assert len(hashes) == 1, f"the peer cache mixes generations {sorted(map(str, hashes))}"
    peers_index = next(iter(except_none), None)
    state = await storage.update_state()
    assert state is not None
    assert len(state) <= 1
    state_index = state[0][1] if state else None
    if state:
        assert state[0] == (1, state_index, state_index, state_index, state_index)
    stored = (key_index, peers_index, state_index)
    return sum(ledger.check(step, value) for step, value in enumerate(stored))


def _drain(reader: Connection, messages: list[tuple[int, int]], wait: float) -> bool:
    """Read what the child sent (waiting up to ``wait`` for the first); False at end of pipe."""
    try:
        while reader.poll(wait):
            messages.append(_writer.decode(reader.recv_bytes()))
            wait = 0
    except EOFError:
        return False
    return True


def _crash_loop(workdir: Path, encrypted: bool, kills: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    ledger = Ledger()
    totals = {"kills": 0, "confirmed_writes": 0, "killed_before_first_write": 0}
    totals["committed_unconfirmed_found"] = 0
    for run in range(kills):
        start = run * 1_000_000
        reader, writer = _CONTEXT.Pipe(duplex=False)
        child = _CONTEXT.Process(
            target=_writer.run, args=(str(workdir), encrypted, start, writer), daemon=True
        )
        child.start()
        writer.close()
        # Sleep while draining the pipe, so the child never blocks on a full pipe.
        messages: list[tuple[int, int]] = []
        deadline = rng.uniform(0, EARLY_DELAY if run % 4 == 0 else MAX_DELAY)
        waited = 0.0
        while waited < deadline:
            step = min(0.01, deadline - waited)
            if not _drain(reader, messages, step):
                break  # the child ended by itself; the exit code check reports it
            waited += step
        child.kill()
        child.join(30)
        assert child.exitcode == -9, f"the child ended by itself (exit code {child.exitcode})"
        _drain(reader, messages, 0)
        reader.close()
        ledger.take(messages, start)
        totals["kills"] += 1
        totals["confirmed_writes"] += len(messages)
        totals["killed_before_first_write"] += not messages
        totals["committed_unconfirmed_found"] += asyncio.run(_verify(workdir, encrypted, ledger))
    return totals


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
@scaled(normal=12, stress=200)
def test_sigkill_at_random_moments_loses_nothing(
    tmp_path: Path, tally: Tally, encrypted: bool, count: int
) -> None:
    """Each kill is followed by a full check; the counts show the kills landed mid-work."""
    totals = _crash_loop(tmp_path, encrypted, count, seed=count * 2 + encrypted)
    kind = "encrypted" if encrypted else "plain"
    tally.record(f"crash_loop_{kind}", **totals)
    assert totals["kills"] == count
    # The delays must have hit both the start-up and the steady state, or the loop proves less.
    assert 0 < totals["killed_before_first_write"] < count
    assert totals["confirmed_writes"] > count
