"""A 1 ms ticker that measures how long the event loop was kept from running it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType

TICK = 0.001


class StallTicker:
    """``async with StallTicker() as t: ...``; then ``t.longest`` is the longest time, in
    seconds, between two consecutive ticks (or the last tick and the end)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._last = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StallTicker:
        self._last = time.perf_counter()
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # let the ticker start before the workload does
        return self

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            self._gap()

    def _gap(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._gap()
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
