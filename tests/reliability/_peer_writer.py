"""The child process of the peer-cache crash loop: one-row ``update_peers`` calls, forever.

Call ``i`` writes peer ``i + 1`` (access hash ``i``); every :data:`STATE_EVERY` calls an
``update_state`` (committed when it returns) follows. After each call returns the child
sends ``(kind, i, time.monotonic())`` through a pipe (``kind`` 0: peer, 1: state), so the
parent knows which writes had returned, and when.
"""

from __future__ import annotations

import asyncio
import struct
import time
from multiprocessing.connection import Connection
from pathlib import Path

from vault.storage import FileStorage

NAME = "peers"
STATE_EVERY = 250
_MESSAGE = struct.Struct(">BQd")


def decode(message: bytes) -> tuple[int, int, float]:
    kind, index, at = _MESSAGE.unpack(message)
    return kind, index, at


async def _write_forever(workdir: Path, out: Connection) -> None:
    storage = FileStorage(NAME, workdir=workdir)
    await storage.open()
    index = 0
    while True:
        await storage.update_peers([(index + 1, index, "user", None, None)])
        out.send_bytes(_MESSAGE.pack(0, index, time.monotonic()))
        if index % STATE_EVERY == STATE_EVERY - 1:
            await storage.update_state((1, index, index, index, index))
            out.send_bytes(_MESSAGE.pack(1, index, time.monotonic()))
        index += 1


def run(workdir: str, out: Connection) -> None:
    """Entry point of the child: write until killed."""
    asyncio.run(_write_forever(Path(workdir), out))
