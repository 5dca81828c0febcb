"""Stored session fields of the wrong type or size are refused (issue 12, item 6).

SQLite is dynamically typed and a MongoDB document holds anything, so a damaged or crafted
session can carry text, floats, documents or huge integers where vault expects a key or an id.
Every such value must be a VaultError naming the field and the session, never a raw
TypeError or MemoryError, and never a value a client would use (an int 256 read as 256 zero
bytes of auth key). The files are crafted with sqlite3 and the documents written with pymongo
to the real test server.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from bson.int64 import Int64

from vault import EncryptedStorage
from vault.errors import CorruptedError, StoredValueError, VaultError
from vault.storage import FileStorage, MemoryStorage, MongoStorage

from .cli_helpers import cli_env, run_cli
from .servers import MongoClients

KEY = bytes(range(256))
RAW_KEY = b"\x07" * 32
#: (field, a value of the wrong type or size), as either backend can hold it.
HOSTILE = [
    ("auth_key", "k" * 256),
    ("auth_key", 256),
    ("auth_key", 1.5),
    ("auth_key", b"\x01" * 100),
    ("auth_key", b"\x01" * (64 * 1024 + 1)),
    ("dc_id", "2"),
    ("dc_id", 2.5),
    ("dc_id", 2**40),
    ("dc_id", 0),
    ("api_id", -1),
    ("api_id", "12345"),
    ("test_mode", 2),
    ("test_mode", "yes"),
    ("user_id", "777000"),
    ("user_id", 7.5),
    ("date", "today"),
    ("date", -5),
    ("is_bot", 0.5),
    ("is_bot", b"\x01"),
]
#: Only MongoDB can hold these.
MONGO_ONLY = [
    ("auth_key", {"key": 1}),
    ("auth_key", Int64(2**62)),  # bytes() of it would ask for 4 EiB
    ("auth_key", [1, 2, 3]),
    ("dc_id", Int64(2**62)),
    ("dc_id", [2]),
    ("user_id", {"$numberLong": "1"}),
    ("is_bot", "true"),
]
#: The Kurigram layout's extra columns.
KURIGRAM_HOSTILE = [("server_address", 91), ("server_address", "h" * 300), ("port", 70000)]


def _id(value: object) -> str:
    text = f"{type(value).__name__}:{value!r}"
    return text if len(text) < 30 else f"{type(value).__name__}:len{len(value)}"  # type: ignore[arg-type]


def assert_refused(raised: pytest.ExceptionInfo[StoredValueError], field: str, name: str) -> None:
    error = raised.value
    assert isinstance(error, CorruptedError)
    assert (error.field, error.session) == (field, name)
    message = str(error)
    assert f"the {field} field of session {name!r}" in message
    assert "restore it from a backup" in message
    assert error.__cause__ is None


# --- SQLite --------------------------------------------------------------------------------


async def make_file(tmp_path: Path, name: str, layout: str = "pyrofork") -> Path:
    """A logged-in session file, as vault writes it."""
    storage = FileStorage(name, workdir=tmp_path, layout=layout)  # type: ignore[arg-type]
    await storage.open()
    await storage.auth_key(KEY)
    await storage.user_id(777000)
    await storage.api_id(12345)
    await storage.save()
    await storage.close()
    return tmp_path / f"{name}.session"


def craft(path: Path, field: str, value: object) -> None:
    """Store ``value`` in ``field`` as an attacker with sqlite3 would. ``dc_id`` is the
    table's INTEGER PRIMARY KEY, which takes integers only, so the table is first rebuilt
    with untyped columns, which SQLite accepts as the same schema."""
    db = sqlite3.connect(path)
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(sessions)")]
        with db:
            db.execute("ALTER TABLE sessions RENAME TO old_sessions")
            db.execute(f"CREATE TABLE sessions ({', '.join(columns)})")
            db.execute("INSERT INTO sessions SELECT * FROM old_sessions")
            db.execute("DROP TABLE old_sessions")
            db.execute(f"UPDATE sessions SET {field} = ?", (value,))
        assert db.execute(f"SELECT {field} FROM sessions").fetchone()[0] == value
    finally:
        db.close()


SQLITE_CASES = [("pyrofork", f, v) for f, v in HOSTILE] + [
    ("kurigram", f, v) for f, v in KURIGRAM_HOSTILE
]


@pytest.mark.parametrize(
    ("layout", "field", "value"),
    SQLITE_CASES,
    ids=[f"{layout}-{f}-{_id(v)}" for layout, f, v in SQLITE_CASES],
)
async def test_sqlite_field_of_the_wrong_type_or_size_is_refused(
    tmp_path: Path, layout: str, field: str, value: object
) -> None:
    path = await make_file(tmp_path, "crafted", layout)
    craft(path, field, value)
    storage = FileStorage("crafted", workdir=tmp_path)
    await storage.open()
    try:
        with pytest.raises(StoredValueError) as raised:
            await getattr(storage, field)()
        assert_refused(raised, field, "crafted")
    finally:
        await storage.close()


async def test_sqlite_crafted_text_key_is_never_migrated(tmp_path: Path) -> None:
    """Neither a text auth key nor an int one is taken as a plaintext key to seal."""
    path = await make_file(tmp_path, "crafted")
    for value in ("k" * 256, 256):
        craft(path, "auth_key", value)
        with pytest.raises(StoredValueError) as raised:
            await EncryptedStorage.encrypt_plaintext(
                FileStorage("crafted", workdir=tmp_path), key=RAW_KEY
            )
        assert_refused(raised, "auth_key", "crafted")
        db = sqlite3.connect(path)
        try:
            assert db.execute("SELECT auth_key FROM sessions").fetchone()[0] == value
        finally:
            db.close()


async def test_sqlite_well_formed_values_still_read(tmp_path: Path) -> None:
    """The check refuses only what is wrong: a Pyrogram-written 0/1 flag and an envelope-sized
    blob read as before."""
    path = await make_file(tmp_path, "fine")
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE sessions SET test_mode = 1, is_bot = 0, auth_key = ?", (b"e" * 419,))
    db.close()
    storage = FileStorage("fine", workdir=tmp_path)
    await storage.open()
    try:
        assert await storage.test_mode() is True
        assert await storage.is_bot() is False
        assert await storage.auth_key() == b"e" * 419
        assert await storage.user_id() == 777000
        assert await storage.dc_id() == 2
    finally:
        await storage.close()


# --- MongoDB -------------------------------------------------------------------------------


async def hostile_document(
    mongo_clients: MongoClients, name: str, field: str, value: object
) -> Any:
    """A logged-in MongoDB session whose ``field`` was then set to ``value`` with pymongo."""
    conn = mongo_clients.connect("pymongo")
    storage = MongoStorage(name, conn)
    await storage.open()
    await storage.auth_key(KEY)
    await storage.user_id(777000)
    await storage.close()
    await conn[name]["session"].update_one({"_id": 0}, {"$set": {field: value}})
    return conn


MONGO_CASES = HOSTILE + MONGO_ONLY


@pytest.mark.parametrize(
    ("field", "value"), MONGO_CASES, ids=[f"{f}-{_id(v)}" for f, v in MONGO_CASES]
)
async def test_mongo_field_of_the_wrong_type_or_size_is_refused(
    mongo_clients: MongoClients, field: str, value: object
) -> None:
    name = f"{mongo_clients.prefix}hostile"
    conn = await hostile_document(mongo_clients, name, field, value)
    storage = MongoStorage(name, conn)
    await storage.open()
    try:
        with pytest.raises(StoredValueError) as raised:
            await getattr(storage, field)()
        assert_refused(raised, field, name)
    finally:
        await storage.close()


@pytest.mark.parametrize("value", [256, "k" * 256, Int64(2**62), {"key": 1}], ids=_id)
async def test_mongo_hostile_key_is_never_sealed_as_a_plaintext_key(
    mongo_clients: MongoClients, value: object
) -> None:
    """On main an int 256 became bytes(256), which migration sealed as the session's key."""
    name = f"{mongo_clients.prefix}hostile"
    conn = await hostile_document(mongo_clients, name, "auth_key", value)
    with pytest.raises(StoredValueError) as raised:
        await EncryptedStorage.encrypt_plaintext(MongoStorage(name, conn), key=RAW_KEY)
    assert_refused(raised, "auth_key", name)
    assert (await conn[name]["session"].find_one({"_id": 0}))["auth_key"] == value


async def test_cli_info_on_a_hostile_mongo_document_exits_bad_data(
    mongo_clients: MongoClients,
) -> None:
    """The CLI reads session documents itself (``info``): the same check, exit 6."""
    name = f"{mongo_clients.prefix}hostile"
    await hostile_document(mongo_clients, name, "auth_key", Int64(2**62))
    env = cli_env(TEST_MONGO_URI=mongo_clients.server.uri)
    result = run_cli("info", "--mongo-uri-env", "TEST_MONGO_URI", "--name", name, env=env)
    assert result.returncode == 6, result.stderr
    assert f"the auth_key field of session {name!r}" in result.stderr
    assert "Traceback" not in result.stderr


# --- the wrapper over any storage ------------------------------------------------------------


class ForeignStorage(MemoryStorage):
    """A third-party storage whose auth key field hands back what it holds, unchecked: the
    wrapper must not rely on vault's own backends' checks (only the auth key read differs)."""

    def __init__(self, stored: object) -> None:
        super().__init__("foreign")
        self.stored = stored
        self.written: list[object] = []

    async def auth_key(self, value: Any = ...) -> Any:
        if value is ...:
            return self.stored
        self.written.append(value)
        return None


@pytest.mark.parametrize("stored", [256, "k" * 256, 1.5, ["k"]], ids=_id)
async def test_wrapper_never_takes_a_non_bytes_value_for_a_key(stored: object) -> None:
    inner = ForeignStorage(stored)
    with pytest.raises(VaultError, match="holds"):
        await EncryptedStorage.encrypt_plaintext(inner, key=RAW_KEY)
    assert inner.written == []
