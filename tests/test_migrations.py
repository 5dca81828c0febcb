"""Real session files written by Pyrogram 2.0.106, Pyrofork and Kurigram, opened by vault.

The files and their expected values come from ``tests/data/make_sessions.py``, run with each
client's own storage classes.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from vault.errors import SchemaError
from vault.session_string import decode_session_string
from vault.storage import FileStorage
from vault.storage.schema import KURIGRAM_VERSION, SCHEMA_VERSION

DATA = Path(__file__).parent / "data"
#: Fixtures vault migrates, and the schema version their client wrote.
MIGRATABLE = {"pyrogram-2.0.106": 3, "pyrofork-2.3.69": 4}
#: Every fixture, and the schema version it has once vault opened it (Kurigram's is kept).
OPENED = {**dict.fromkeys(MIGRATABLE, SCHEMA_VERSION), "kurigram-2.2.26": KURIGRAM_VERSION}


def load(stem: str, tmp_path: Path, *, copy: bool = True) -> tuple[FileStorage, dict[str, Any]]:
    """A copy of the fixture ``stem`` (or the copy made before) as an unopened FileStorage,
    and its expected values."""
    if copy:
        shutil.copy(DATA / f"{stem}.session", tmp_path / f"{stem}.session")
    storage = FileStorage(stem, workdir=tmp_path)
    expected = json.loads((DATA / f"{stem}.json").read_text())
    # The client stamped the peers when the fixture was made: read them as of that moment.
    storage._now = lambda: expected["peers_last_update_on"]  # type: ignore[method-assign]
    return storage, expected


def content(path: Path) -> list[str]:
    """Everything an SQLite file holds (schema and rows), to tell whether it changed."""
    db = sqlite3.connect(path)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def fields(peer: Any) -> dict[str, Any]:
    """An input peer (the client's raw type or vault's record) as the fixture JSON writes it."""
    names = getattr(peer, "__slots__", None) or peer.__dataclass_fields__
    return {"type": type(peer).__name__, **{name: getattr(peer, name) for name in names}}


@pytest.mark.parametrize("stem", OPENED)
async def test_client_file_opens_and_reads_back(stem: str, tmp_path: Path) -> None:
    storage, expected = load(stem, tmp_path)
    assert expected["schema_version"] == MIGRATABLE.get(stem, KURIGRAM_VERSION)
    await storage.open()
    try:
        assert await storage.version() == OPENED[stem]
        session = expected["session"]
        assert await storage.dc_id() == session["dc_id"]
        assert await storage.api_id() == session["api_id"]
        assert await storage.test_mode() is session["test_mode"]
        assert await storage.auth_key() == bytes.fromhex(session["auth_key"])
        assert await storage.user_id() == session["user_id"]
        assert await storage.is_bot() is session["is_bot"]
        assert await storage.date() == session["date"]
        assert await storage.export_session_string() == expected["session_string"]

        lookups = expected["lookups"]
        for peer_id, peer in lookups["by_id"].items():
            assert fields(await storage.get_peer_by_id(int(peer_id))) == peer
        for username, peer in lookups["by_username"].items():
            assert fields(await storage.get_peer_by_username(username)) == peer
        for phone, peer in lookups["by_phone_number"].items():
            assert fields(await storage.get_peer_by_phone_number(phone)) == peer
        with pytest.raises(KeyError):
            await storage.get_peer_by_username("fixture_nobody")

        states = await storage.update_state()
        assert sorted(map(list, states or [])) == sorted(expected["update_state"])
    finally:
        await storage.close()


@pytest.mark.parametrize("stem", OPENED)
async def test_opened_file_keeps_working(stem: str, tmp_path: Path) -> None:
    storage, expected = load(stem, tmp_path)
    await storage.open()
    try:
        await storage.update_usernames([(expected["peers"][0][0], "fixture_new_name")])
        await storage.update_state((7, 1, 2, 3, 4))
    finally:
        await storage.close()

    again, _ = load(stem, tmp_path, copy=False)
    await again.open()
    try:
        assert await again.version() == OPENED[stem]
        peer = await again.get_peer_by_username("fixture_new_name")
        assert fields(peer) == expected["lookups"]["by_id"][str(expected["peers"][0][0])]
        assert (7, 1, 2, 3, 4) in (await again.update_state() or [])
    finally:
        await again.close()


async def test_failed_migration_leaves_the_file_unchanged(tmp_path: Path) -> None:
    """A version 3 file with a foreign ``usernames`` table (Kurigram's shape, no ``peer_id``
    column): the migration's index on ``usernames(peer_id)`` fails after the earlier steps ran,
    so the whole migration must roll back."""
    stem = "pyrogram-2.0.106"
    storage, _ = load(stem, tmp_path)
    path = tmp_path / f"{stem}.session"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE usernames (id INTEGER, username TEXT)")
    db.commit()
    db.close()
    before = content(path)

    with pytest.raises(SchemaError, match=r"from schema version 3 .* left unchanged"):
        await storage.open()

    assert content(path) == before
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT number FROM version").fetchall() == [(3,)]
        assert "update_state" not in {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        db.close()


async def test_kurigram_session_string_imports(tmp_path: Path) -> None:
    """A Kurigram session string moves into a new file of vault's default layout."""
    expected = json.loads((DATA / "kurigram-2.2.26.json").read_text())
    storage = FileStorage("from-kurigram", workdir=tmp_path)
    await storage.open()
    try:
        await storage.import_session_string(expected["session_string"])
        assert await storage.auth_key() == bytes.fromhex(expected["session"]["auth_key"])
        assert await storage.user_id() == expected["session"]["user_id"]
        assert await storage.export_session_string() == expected["session_string"]
    finally:
        await storage.close()
    assert decode_session_string(expected["session_string"]).dc_id == expected["session"]["dc_id"]
