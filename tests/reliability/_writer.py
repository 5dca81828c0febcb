"""The child process of the crash loop: writes to one session as fast as it can, forever.

Every value it writes is made by :func:`auth_key_for` / :func:`peers_for` from an index, so the
parent can tell a written value from garbage, and after each committed step the child sends
``(step, index)`` through a pipe, so the parent knows the last write that returned.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from multiprocessing.connection import Connection
from pathlib import Path

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage, Storage

NAME = "crash"
PASSPHRASE = "crash-loop passphrase"
PEERS = 2000
STEPS = ("auth_key", "peers", "state")
_MESSAGE = struct.Struct(">BQ")


def make_storage(workdir: Path, encrypted: bool) -> Storage:
    """The storage the child writes to and the parent checks."""
    plain = FileStorage(NAME, workdir=workdir)
    if not encrypted:
        return plain
    return EncryptedStorage(plain, passphrase=PASSPHRASE, kdf=CHEAP_KDF)


def auth_key_for(index: int) -> bytes:
    """The auth key written at ``index``: the index, then 248 bytes derived from it."""
    return index.to_bytes(8, "big") + hashlib.shake_256(b"crash%d" % index).digest(248)


def peers_for(index: int) -> list[tuple[int, int, str, str, str]]:
    """One generation of the peer cache: every peer carries the generation as access hash."""
    return [(peer, index, "user", f"u{peer}", f"{peer:011d}") for peer in range(1, PEERS + 1)]


def encode(step: int, index: int) -> bytes:
    return _MESSAGE.pack(step, index)


def decode(message: bytes) -> tuple[int, int]:
    step, index = _MESSAGE.unpack(message)
    return step, index


async def _write_forever(workdir: Path, encrypted: bool, start: int, out: Connection) -> None:
    storage = make_storage(workdir, encrypted)
    await storage.open()
    index = start
    while True:
        await storage.auth_key(auth_key_for(index))
        out.send_bytes(encode(0, index))
        await storage.update_peers(peers_for(index))
        out.send_bytes(encode(1, index))
        await storage.update_state((1, index, index, index, index))
        out.send_bytes(encode(2, index))
        await storage.save()
        index += 1


def run(workdir: str, encrypted: bool, start: int, out: Connection) -> None:
    """Entry point of the child: write until killed."""
    asyncio.run(_write_forever(Path(workdir), encrypted, start, out))
