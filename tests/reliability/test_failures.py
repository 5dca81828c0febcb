"""Nothing lost on failure: wrong passphrase, damaged file, full disk, permission denied.

Each case hashes the session file and its side files before and after the failure, and checks
the error raised. Full disk is produced for real with ``RLIMIT_FSIZE`` in a forked child, set once
the session is open (the kernel then fails every write that would grow a file, as on a full
file system); permission denied by running the
child as ``nobody`` when the tests run as root, who ignores file modes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from vault.errors import (
    CorruptedError,
    SchemaError,
    StorageError,
    StorageWriteError,
    WrongKeyError,
)
from vault.storage import FileStorage, Storage

from ..tampering import (
    encrypted_file,
    make_session,
    session_files,
    session_path,
    store_auth_key,
    stored_auth_key,
)
from ._support import cap_file_size, in_child

AUTH_KEY = bytes(range(256))


def _dump(database: Path) -> list[str]:
    """The logical content of a session file."""
    db = sqlite3.connect(database)
    try:
        return list(db.iterdump())
    finally:
        db.close()


async def _plain_session(workdir: Path) -> Path:
    storage = FileStorage("s", workdir=workdir)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    await storage.update_peers([(i, i, "user", f"u{i}", None) for i in range(100)])
    await storage.close()
    return workdir / "s.session"


async def test_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    await make_session(tmp_path, "s", auth_key=AUTH_KEY)
    database = session_path(tmp_path, "s")
    before = session_files(database)
    storage = encrypted_file(tmp_path, "s", passphrase="not the passphrase")
    with pytest.raises(WrongKeyError):
        await storage.open()
    assert session_files(database) == before
    storage = encrypted_file(tmp_path, "s")
    await storage.open()
    assert await storage.auth_key() == AUTH_KEY
    await storage.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "zeroed_header"])
async def test_damaged_session_file_is_refused_unchanged(tmp_path: Path, damage: str) -> None:
    database = await _plain_session(tmp_path)
    data = database.read_bytes()
    damaged = {
        "garbage": os.urandom(len(data)),
        "truncated": data[:50],
        "zeroed_header": bytes(100) + data[100:],
    }[damage]
    database.write_bytes(damaged)
    before = session_files(database)
    with pytest.raises(SchemaError):
        await FileStorage("s", workdir=tmp_path).open()
    assert session_files(database) == before


async def test_damaged_envelope_is_refused_unchanged(tmp_path: Path) -> None:
    await make_session(tmp_path, "s", auth_key=AUTH_KEY)
    database = session_path(tmp_path, "s")
    envelope = stored_auth_key(database) or b""
    store_auth_key(database, envelope[:100] + bytes(20) + envelope[120:])
    before = session_files(database)
    with pytest.raises(CorruptedError):
        await encrypted_file(tmp_path, "s").open()
    assert session_files(database) == before


#: Once a session is open, no file may grow past this: every write fails (its WAL cannot grow).
FULL = 1024


async def _write_on_full_disk(
    storage: Storage,
    write: Callable[[], Awaitable[object]],
) -> None:
    """Open ``storage``, fill the disk, check ``write`` raises the documented
    :class:`StorageWriteError`. Run it in a child process: the limit cannot be lifted again."""
    await storage.open()
    try:
        cap_file_size(FULL)
        with pytest.raises(StorageWriteError, match="disk"):
            await write()
    finally:
        with contextlib.suppress(sqlite3.Error):
            await storage.close()


def test_full_disk_loses_nothing(tmp_path: Path) -> None:
    database = asyncio.run(_plain_session(tmp_path))
    before, content = session_files(database), _dump(database)
    storage = FileStorage("s", workdir=tmp_path)
    more = [(i, i, "user", f"new{i}", None) for i in range(1000, 1100)]

    async def write() -> None:
        await storage.update_peers(more)  # written behind: committed, or refused, by save()
        await storage.save()

    in_child(lambda: asyncio.run(_write_on_full_disk(storage, write)))
    assert _dump(database) == content
    assert session_files(database) == before


def test_full_disk_while_rewriting_an_envelope_keeps_the_old_one(tmp_path: Path) -> None:
    asyncio.run(make_session(tmp_path, "s", auth_key=AUTH_KEY))
    database = session_path(tmp_path, "s")
    before, content = session_files(database), _dump(database)
    storage = encrypted_file(tmp_path, "s")
    new_key = os.urandom(256)
    in_child(lambda: asyncio.run(_write_on_full_disk(storage, lambda: storage.auth_key(new_key))))
    assert _dump(database) == content
    assert session_files(database) == before

    async def reopen() -> bytes | None:
        storage = encrypted_file(tmp_path, "s")
        await storage.open()
        try:
            return await storage.auth_key()
        finally:
            await storage.close()

    assert asyncio.run(reopen()) == AUTH_KEY


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="vault-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_permission_denied_is_a_storage_error(shared_dir: Path) -> None:
    database = asyncio.run(_plain_session(shared_dir))
    database.chmod(0o644)  # others may read the file, not write it
    before = session_files(database)

    def open_as_other_user() -> None:
        with pytest.raises(StorageError, match="permission denied"):
            asyncio.run(FileStorage("s", workdir=shared_dir).open())

    in_child(open_as_other_user, as_nobody=True)
    assert session_files(database) == before
    assert stat.S_IMODE(database.stat().st_mode) == 0o644


def test_unreachable_workdir_is_a_storage_error(shared_dir: Path) -> None:
    private = shared_dir / "private"
    asyncio.run(_plain_session(private))
    private.chmod(0o700)

    def open_as_other_user() -> None:
        with pytest.raises(StorageError):
            asyncio.run(FileStorage("s", workdir=private).open())

    in_child(open_as_other_user, as_nobody=True)
