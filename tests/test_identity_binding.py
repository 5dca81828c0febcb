"""Session identity (issue 12 item 8): dc_id, test_mode and user_id are bound to the sealed
auth key (format version 2). An edit in a closed SQLite file or MongoDB document is refused at
open, changing nothing; an edit behind an open session at the next read of that field; the
writes a client makes (Pyrofork's, in its order) re-seal the key and survive a reopen."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage, encrypt_session_string
from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Purpose, parse
from vault.crypto.identity import SessionIdentity
from vault.errors import CorruptedError
from vault.session_string import SessionData, encode_session_string
from vault.storage import MemoryStorage, MongoStorage
from vault.testing import log_in

from .servers import MongoClients
from .tampering import (
    PASSPHRASE,
    encrypted_file,
    make_session,
    session_files,
    session_path,
    store_auth_key,
    stored_auth_key,
    with_check,
)
from .vectors.generate import identity_at

#: ``(field, edited value)``: what an attacker with write access changes.
EDITS = [("dc_id", 1), ("test_mode", True), ("user_id", 12345), ("user_id", None)]
EDIT_IDS = ["dc_id", "test_mode", "user_id", "user_id_cleared"]
LOGGED_IN = SessionIdentity(dc_id=4, test_mode=False, user_id=777000)  # vault.testing.log_in


def edit_file(database: Path, field: str, value: object) -> None:
    """Change one session column with plain sqlite3, as an attacker with file access does."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute(f"UPDATE sessions SET {field} = ?", (value,))
        db.commit()


def bound_identity(stored: object) -> SessionIdentity:
    """The identity a stored envelope is sealed for (its header; the tag authenticates it)."""
    header = parse(bytes(stored), Purpose.AUTH_KEY).header  # type: ignore[arg-type]
    assert header.version == 2
    return header.identity


# --- edits of a closed session -------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), EDITS, ids=EDIT_IDS)
async def test_an_identity_edit_in_a_closed_file_is_refused_at_open(
    tmp_path: Path, field: str, value: object
) -> None:
    key = await make_session(tmp_path)
    database = session_path(tmp_path)
    edit_file(database, field, value)
    before = session_files(database)

    storage = encrypted_file(tmp_path)
    with pytest.raises(CorruptedError, match=rf"{field} is .* sealed for .*rebind=True"):
        await storage.open()
    assert session_files(database) == before  # nothing changed

    # An edit made on purpose (or a crash mid-migration) is accepted only when asked to.
    rebound = encrypted_file(tmp_path, rebind=True)
    await rebound.open()
    assert await rebound.auth_key() == key
    assert await getattr(rebound, field)() == value
    await rebound.close()
    assert getattr(bound_identity(stored_auth_key(database)), field) == value
    again = encrypted_file(tmp_path)
    await again.open()
    assert await again.auth_key() == key
    await again.close()


async def test_editing_the_header_identity_too_fails_authentication(tmp_path: Path) -> None:
    """The attacker rewrites both the dc_id field and the identity in the envelope (check
    recomputed): the header is associated data, so the tag catches it."""
    await make_session(tmp_path)
    database = session_path(tmp_path)
    envelope = bytearray(stored_auth_key(database) or b"")
    envelope[identity_at(bytes(envelope)) + 1] = 1  # dc_id 4 -> 1
    store_auth_key(database, with_check(bytes(envelope[:-16])))
    edit_file(database, "dc_id", 1)
    with pytest.raises(CorruptedError, match="failed authentication"):
        await encrypted_file(tmp_path).open()


@pytest.fixture
def mongo(mongo_clients: MongoClients) -> tuple[Any, str]:
    return mongo_clients.connect("pymongo"), f"{mongo_clients.prefix}identity"


def mongo_storage(mongo: tuple[Any, str], **kwargs: Any) -> EncryptedStorage:
    conn, name = mongo
    kwargs.setdefault("passphrase", PASSPHRASE)
    return EncryptedStorage(MongoStorage(name, conn), kdf=CHEAP_KDF, **kwargs)


@pytest.mark.parametrize(("field", "value"), EDITS, ids=EDIT_IDS)
async def test_an_identity_edit_in_a_mongodb_document_is_refused_at_open(
    mongo: tuple[Any, str], field: str, value: object
) -> None:
    conn, name = mongo
    storage = mongo_storage(mongo)
    await storage.open()
    key = await log_in(storage)
    await storage.close()
    sessions = conn[name]["session"]
    await sessions.update_one({"_id": 0}, {"$set": {field: value}})
    before = await sessions.find_one({"_id": 0})

    with pytest.raises(CorruptedError, match=rf"{field} is .* sealed for"):
        await mongo_storage(mongo).open()
    assert await sessions.find_one({"_id": 0}) == before

    rebound = mongo_storage(mongo, rebind=True)
    await rebound.open()
    assert await rebound.auth_key() == key
    await rebound.close()
    doc = await sessions.find_one({"_id": 0})
    assert getattr(bound_identity(doc["auth_key"]), field) == value


# --- edits behind an open session ------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), EDITS, ids=EDIT_IDS)
async def test_an_edit_behind_an_open_session_is_refused_at_the_next_read_of_it(
    tmp_path: Path, field: str, value: object
) -> None:
    storage = encrypted_file(tmp_path)
    await storage.open()
    await log_in(storage)
    inner = storage.inner
    await getattr(inner, field)(value)  # written to the inner storage, bypassing the wrapper
    with pytest.raises(CorruptedError, match=rf"{field} is .* sealed for"):
        await getattr(storage, field)()
    await storage.close()
    with pytest.raises(CorruptedError, match=f"{field} is"):
        await encrypted_file(tmp_path).open()


async def test_a_replaced_envelope_behind_an_open_session_is_checked_against_the_fields(
    tmp_path: Path,
) -> None:
    """A stored envelope other than the cached one is checked against the stored fields: an
    old copy bound to another user_id is refused."""
    storage = encrypted_file(tmp_path)
    await storage.open()
    await log_in(storage, user_id=1)
    old = await storage.inner.auth_key()
    await storage.user_id(2)
    assert await storage.auth_key() is not None
    await storage.inner.auth_key(old)  # bound to user_id 1, stored next to user_id 2
    with pytest.raises(CorruptedError, match="user_id is 2 but the key was sealed for 1"):
        await storage.auth_key()
    await storage.close()


# --- what clients write ------------------------------------------------------------------------


async def pyrofork_new_session(storage: EncryptedStorage, first: bytes) -> None:
    """Pyrofork 2.3.69 ``Client.load_session`` on an empty session, in its order."""
    await storage.api_id(12345)
    await storage.dc_id(2)
    await storage.date(0)
    await storage.test_mode(False)
    await storage.auth_key(first)  # Auth(...).create() for DC 2
    await storage.user_id(None)
    await storage.is_bot(None)


async def test_pyrofork_migration_login_and_log_out_keep_working_across_reopens(
    tmp_path: Path,
) -> None:
    first, second = bytes(range(256)), bytes(reversed(range(256)))
    storage = encrypted_file(tmp_path)
    await storage.open()
    await pyrofork_new_session(storage, first)
    # send_code / sign_in_bot on PHONE_MIGRATE_4: dc_id first, then the new DC's auth key.
    await storage.dc_id(4)
    assert await storage.auth_key() == first  # re-sealed for DC 4, still the same key
    await storage.auth_key(second)
    # sign_in / check_password: user_id, then is_bot.
    await storage.user_id(777000)
    await storage.is_bot(False)
    await storage.close()
    database = session_path(tmp_path)
    assert bound_identity(stored_auth_key(database)) == LOGGED_IN

    reopened = encrypted_file(tmp_path)
    await reopened.open()
    assert await reopened.auth_key() == second
    assert (await reopened.dc_id(), await reopened.user_id()) == (4, 777000)
    # Another account on the same file, then clearing it as a log-out that keeps the file does.
    await reopened.user_id(42)
    await reopened.close()
    assert bound_identity(stored_auth_key(database)).user_id == 42
    cleared = encrypted_file(tmp_path)
    await cleared.open()
    await cleared.user_id(None)
    await cleared.auth_key(None)
    await cleared.dc_id(2)  # no key stored: nothing to re-seal
    await cleared.close()
    last = encrypted_file(tmp_path)
    await last.open()
    assert (await last.auth_key(), await last.user_id(), await last.dc_id()) == (None, None, 2)
    await last.close()


async def test_a_failed_check_before_an_identity_write_changes_nothing(tmp_path: Path) -> None:
    """Writing dc_id first opens the stored key: a replaced envelope is refused before the
    field is written."""
    storage = encrypted_file(tmp_path)
    await storage.open()
    await log_in(storage)
    await storage.inner.auth_key(b"SVLT" + bytes(400))
    with pytest.raises(CorruptedError):
        await storage.dc_id(1)
    assert await storage.inner.dc_id() == 4
    await storage.close()


async def test_an_encrypted_session_string_binds_its_identity_too(tmp_path: Path) -> None:
    """The ``vault1:`` string seals the whole SessionData; a storage made from it binds the
    string's dc_id, test_mode and user_id."""
    data = SessionData(5, 12345, True, bytes(range(256)), 99, False)
    text = encrypt_session_string(encode_session_string(data), passphrase=PASSPHRASE)
    storage = encrypted_file(tmp_path, session_string=text)
    await storage.open()
    await storage.close()
    database = session_path(tmp_path)
    assert bound_identity(stored_auth_key(database)) == SessionIdentity(5, True, 99)
    edit_file(database, "test_mode", 0)
    with pytest.raises(CorruptedError, match="test_mode is False but the key was sealed for True"):
        await encrypted_file(tmp_path).open()


async def test_a_memory_session_binds_and_checks_its_identity_too() -> None:
    inner = MemoryStorage("memory")
    storage = EncryptedStorage(inner, key=bytes(32), kdf=CHEAP_KDF)
    await storage.open()
    await log_in(storage)
    assert bound_identity(await inner.auth_key()) == LOGGED_IN
    await inner.dc_id(3)
    with pytest.raises(CorruptedError, match="dc_id is 3 but the key was sealed for 4"):
        await storage.dc_id()
    await storage.close()


async def test_reads_during_an_identity_write_never_see_it_half_done(tmp_path: Path) -> None:
    """The field is written before the envelope: reads running meanwhile (another task of the
    client) wait for the write to finish instead of reporting tampering."""
    storage = encrypted_file(tmp_path)
    await storage.open()
    key = await log_in(storage)
    for dc_id in [1, 2, 3, 5, 4] * 4:
        results = await asyncio.gather(
            storage.dc_id(dc_id), storage.dc_id(), storage.auth_key(), storage.user_id()
        )
        assert results[2] == key and results[3] == 777000
    assert await storage.dc_id() == 4
    await storage.close()
    again = encrypted_file(tmp_path)
    await again.open()
    assert await again.auth_key() == key
    await again.close()
