"""Helpers for the command-line tests: run the real entry point, make and read session files."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto.envelope import is_envelope
from vault.errors import SchemaError
from vault.storage import FileStorage
from vault.storage.schema import detect_version
from vault.testing import log_in

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

#: Argon2id costs for tests only (the CLI warns about them on stderr).
CHEAP = ["--kdf-time-cost", "1", "--kdf-memory-kib", "8", "--kdf-parallelism", "1"]
WEAK_WARNING = "session-vault: warning: Argon2id parameters weaker"

#: Session files written by real Pyrogram-family clients (see tests/data/make_sessions.py).
CLIENT_FIXTURES = sorted(p.stem for p in DATA.glob("*.session") if p.with_suffix(".json").exists())


def _readable(stem: str) -> bool:
    """Whether vault reads this fixture's schema (asked of vault's own schema check)."""
    conn = sqlite3.connect(DATA / f"{stem}.session")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        rows = [tuple(r) for r in conn.execute("SELECT number FROM version")]
    finally:
        conn.close()
    try:
        detect_version(tables, rows)
    except SchemaError:
        return False
    return True


READABLE_FIXTURES = [stem for stem in CLIENT_FIXTURES if _readable(stem)]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str | Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m vault ARGS`` in a new session (no controlling terminal, so it can never
    prompt), with ``stdin`` piped in."""
    return subprocess.run(
        [sys.executable, "-m", "vault", *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd,
        timeout=120,
        start_new_session=True,
        check=False,
    )


def json_info(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The facts of the one session in the JSON document of ``info --json``."""
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    [entry] = document["results"]
    assert entry["ok"] is True
    facts: dict[str, Any] = entry["info"]
    return facts


def timed_run(*args: str | Path, env: dict[str, str] | None = None) -> float:
    """Seconds that ``python -m vault ARGS`` takes; it must succeed."""
    started = time.monotonic()
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def killed_run(*args: str | Path, delay: float, env: dict[str, str] | None = None) -> None:
    """Start ``python -m vault ARGS`` and SIGKILL it after ``delay`` seconds (if still running)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vault", *map(str, args)],
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


async def killed_cli(
    argv: list[str],
    env: dict[str, str],
    delay: float,
    until: Callable[[], Awaitable[bool]] | None = None,
) -> bool:
    """``killed_run`` for a test's event loop: start ``python -m vault ARGV`` and SIGKILL it
    after ``delay`` seconds, or as soon as ``until()`` holds; whether it had finished first."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vault",
        *argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and process.returncode is None:
        if until is not None and await until():
            break
        await asyncio.sleep(0.001)
    finished = process.returncode is not None
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
    return finished


def kill_moments(run_seconds: float, kills: int, seed: int) -> list[float]:
    """Delays after start at which to SIGKILL ``kills`` runs of a command that takes
    ``run_seconds``: one random moment in each of ``kills`` equal slices of the time from the end
    of most of the interpreter's start-up (where nothing happens) to a little past the run."""
    start_up = 0.8 * timed_run("--version")
    span = 1.1 * run_seconds
    rng = random.Random(seed)
    return [start_up + (span - start_up) * (i + rng.random()) / kills for i in range(kills)]


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr lines, less the warning about the cheap test KDF."""
    return [line for line in result.stderr.splitlines() if not line.startswith(WEAK_WARNING)]


@dataclass
class Fixture:
    """A plaintext session file in a test's directory and what it holds."""

    path: Path
    auth_key: bytes
    session: dict[str, Any]
    peers: list[list[Any]]

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(".session")


def client_fixture(stem: str, directory: Path, name: str = "account") -> Fixture:
    """Copy the real-client fixture ``stem`` to ``directory/name.session``."""
    meta = json.loads((DATA / f"{stem}.json").read_text())
    path = directory / f"{name}.session"
    path.write_bytes((DATA / f"{stem}.session").read_bytes())
    session = meta["session"]
    return Fixture(path, bytes.fromhex(session["auth_key"]), session, meta["peers"])


def vault_fixture(directory: Path, name: str = "account") -> Fixture:
    """A plaintext session file written by vault's own FileStorage."""

    async def make() -> bytes:
        storage = FileStorage(name, workdir=directory)
        await storage.open()
        try:
            key = await log_in(storage, user_id=424242)
            await storage.update_peers([(424242, 99, "user", "me", None)])
            return key
        finally:
            await storage.close()

    key = asyncio.run(make())
    return Fixture(directory / f"{name}.session", key, {"user_id": 424242, "dc_id": 4}, [])


def stored_auth_key(path: Path) -> bytes | None:
    """The auth key column as stored (plain key or envelope), read with sqlite3 directly."""
    conn = sqlite3.connect(path)  # read-write, so no -wal/-shm files are left behind
    try:
        row = conn.execute("SELECT auth_key FROM sessions").fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


def open_auth_key(path: Path, **unlock: Any) -> bytes | None:
    """The auth key of a session file as a client would get it (encrypted when ``unlock``)."""

    async def read() -> bytes | None:
        inner = FileStorage(path.name.removesuffix(".session"), workdir=path.parent)
        storage = EncryptedStorage(inner, **unlock) if unlock else inner
        await storage.open()
        try:
            return await storage.auth_key()
        finally:
            await storage.close()

    return asyncio.run(read())


def leftovers(directory: Path) -> list[str]:
    """Temporary files a command left behind."""
    return sorted(p.name for p in directory.iterdir() if ".vault-tmp-" in p.name)


def telethon_string(dc_id: int, address: str, auth_key: bytes) -> str:
    """A ``StringSession`` string made by Telethon itself (skips the test without Telethon)."""
    sessions = pytest.importorskip("telethon.sessions")
    crypto = pytest.importorskip("telethon.crypto")
    session = sessions.StringSession()
    session.set_dc(dc_id, address, 443)
    session.auth_key = crypto.AuthKey(auth_key)
    return str(session.save())


# --- sessions in MongoDB -----------------------------------------------------------------------


async def make_mongo_session(
    conn: Any, name: str, database: str | None = None, *, logged_in: bool = True
) -> bytes:
    """A plaintext session written by MongoStorage; returns its auth key."""
    from vault.storage import MongoStorage  # noqa: PLC0415 - the mongo extra (not everywhere)

    storage = MongoStorage(name, conn, database=database)
    await storage.open()
    key = os.urandom(256)
    try:
        if logged_in:
            await storage.dc_id(4)
            await storage.auth_key(key)
            await storage.user_id(5000000001)
            await storage.update_peers([(5000000001, 77, "user", "me", None)])
    finally:
        await storage.close()
    return key


async def raw(conn: Any, name: str, database: str | None = None) -> dict[str, Any]:
    """The session document as the server holds it."""
    db = conn[database if database is not None else name]
    doc = await db.session.find_one({"_id": name if database is not None else 0})
    assert doc is not None
    return dict(doc)


async def open_key(conn: Any, name: str, database: str | None = None, **unlock: Any) -> bytes:
    """The auth key as a client gets it (through EncryptedStorage when ``unlock``)."""
    from vault.storage import MongoStorage  # noqa: PLC0415 - the mongo extra (not everywhere)

    inner = MongoStorage(name, conn, database=database)
    storage = EncryptedStorage(inner, **unlock) if unlock else inner
    await storage.open()
    try:
        key = await storage.auth_key()
    finally:
        await storage.close()
    assert key is not None
    return key


def assert_sealed(doc: dict[str, Any], key: bytes) -> None:
    stored = bytes(doc["auth_key"])
    assert stored != key and len(stored) != 256
    assert is_envelope(stored)
    assert key not in stored and key.hex().encode() not in stored


@contextlib.contextmanager
def ext4(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fresh 64 MiB ext4 image mounted through a loop device: ``(image, mount point)``;
    unmounted after the block. Skipped where mounting is not permitted, but never in CI,
    which runs as root on a machine that allows it."""
    image, mount = tmp_path / "fs.img", tmp_path / "mnt"
    mount.mkdir()
    with image.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", str(image)], capture_output=True, check=False)
    mounted = made.returncode == 0 and (
        subprocess.run(
            ["mount", "-o", "loop", str(image), str(mount)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        reason = "cannot make and loop-mount an ext4 image here (needs root and mkfs.ext4)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)
    try:
        yield image, mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
