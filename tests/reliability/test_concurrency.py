"""Concurrency: two processes on one session file, and 1,000 coroutines on one storage."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.errors import SessionInUseError
from vault.storage import FileStorage, Storage

from .. import test_contract
from ..tampering import session_files
from ._support import ROOT, Tally

# A second, real process that holds the session open until its stdin says "close".
_HOLDER = """
import asyncio, sys
from vault.storage import FileStorage

async def main():
    storage = FileStorage("shared", workdir=sys.argv[1])
    await storage.open()
    await storage.user_id(42)
    print("ready", flush=True)
    sys.stdin.readline()
    await storage.close()

asyncio.run(main())
"""

# A second process that tries to open a session held by the test; prints the outcome.
_CONTENDER = """
import asyncio, sys
from vault.storage import FileStorage

async def main():
    storage = FileStorage("shared", workdir=sys.argv[1])
    try:
        await storage.open()
    except Exception as error:
        print(type(error).__name__)
    else:
        print("opened")
        await storage.close()

asyncio.run(main())
"""


def _python(script: str, workdir: Path, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", script, str(workdir)],
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        **kwargs,
    )


def _hold(workdir: Path) -> subprocess.Popen[str]:
    holder = _python(_HOLDER, workdir)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ready"
    return holder


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_second_process_gets_session_in_use(tmp_path: Path, encrypted: bool) -> None:
    holder = _hold(tmp_path)
    try:
        database = tmp_path / "shared.session"
        before = session_files(database)
        plain = FileStorage("shared", workdir=tmp_path)
        storage: Storage = (
            EncryptedStorage(plain, passphrase="pw", kdf=CHEAP_KDF) if encrypted else plain
        )
        with pytest.raises(SessionInUseError, match="already open"):
            await storage.open()
        await storage.close()
        assert session_files(database) == before
    finally:
        holder.communicate("close\n", timeout=30)
    assert holder.returncode == 0
    # Once the other process is gone the session opens, with what it wrote.
    after = FileStorage("shared", workdir=tmp_path)
    await after.open()
    assert await after.user_id() == 42
    await after.close()


async def test_session_held_here_is_refused_to_another_process(tmp_path: Path) -> None:
    storage = FileStorage("shared", workdir=tmp_path)
    await storage.open()
    try:
        contender = _python(_CONTENDER, tmp_path)
        out, _ = contender.communicate(timeout=60)
        assert out.strip() == "SessionInUseError"
    finally:
        await storage.close()
    contender = _python(_CONTENDER, tmp_path)
    out, _ = contender.communicate(timeout=60)
    assert out.strip() == "opened"


async def test_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    holder = _hold(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    assert holder.returncode == -signal.SIGKILL
    storage = FileStorage("shared", workdir=tmp_path)
    await storage.open()
    assert await storage.user_id() == 42
    await storage.close()


async def test_second_storage_object_in_one_process_is_refused(tmp_path: Path) -> None:
    first = FileStorage("shared", workdir=tmp_path)
    await first.open()
    try:
        with pytest.raises(SessionInUseError):
            await FileStorage("shared", workdir=tmp_path).open()
        assert await first.dc_id() == 2  # the refused open did not disturb the first
    finally:
        await first.close()


async def _worker(storage: Storage, index: int, rng: random.Random) -> None:
    """One coroutine: its own peer, state row and username, plus reads of shared fields."""
    for op in rng.sample(range(4), 4):
        if op == 0:
            await storage.update_peers([(index, index * 7, "user", f"user{index}", None)])
        elif op == 1:
            await storage.update_state((index, index, index + 1, index + 2, index + 3))
        elif op == 2:
            await storage.dc_id()
            await storage.auth_key()
        else:
            await storage.api_id(index)
    # Reading one's own write back must work at once.
    peer = await storage.get_peer_by_id(index)
    assert peer.access_hash == index * 7


@pytest.fixture(
    params=[(cls, wrap) for cls in test_contract.BACKENDS for wrap in ("plain", "encrypted")],
    ids=lambda param: f"{param[0].__name__}-{param[1]}",
)
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Storage]:
    """Each backend of the contract suite, as it is and wrapped by EncryptedStorage."""
    cls, wrap = request.param
    contract = cls()
    contract._bind(request, tmp_path)

    def make(name: str) -> Storage:
        inner = contract.make_storage(name)
        if wrap == "encrypted":
            return EncryptedStorage(inner, passphrase="pw", kdf=CHEAP_KDF)
        return inner

    return make


async def test_1000_concurrent_coroutines(
    make_storage: Callable[[str], Storage], tally: Tally, request: pytest.FixtureRequest
) -> None:
    """Mixed reads and writes from 1,000 coroutines at once: no error, no lost write."""
    count = 1000
    storage = make_storage("concurrent")
    await storage.open()
    try:
        rng = random.Random(1000)
        keys = [os.urandom(256) for _ in range(10)]
        writers = [_worker(storage, index, random.Random(rng.random())) for index in range(count)]
        key_writers = [storage.auth_key(key) for key in keys]
        results = await asyncio.gather(*writers, *key_writers, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise AssertionError(f"{len(errors)} of {len(results)} coroutines failed") from errors[
                0
            ]
        state = await storage.update_state()
        assert state == [(i, i, i + 1, i + 2, i + 3) for i in range(count)]
        for index in range(count):
            assert (await storage.get_peer_by_username(f"user{index}")).access_hash == index * 7
        assert await storage.api_id() in range(count)
        assert await storage.auth_key() in keys
    finally:
        await storage.close()
    tally.record(f"concurrency_1000[{request.node.callspec.id}]", coroutines=len(results), errors=0)
