"""What a FileStorage's ``name`` may be (a session name, a path ending in ``.session``, a
path with directories) and the layout a new file gets by default."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vault import EncryptedStorage
from vault.errors import InvalidSessionString
from vault.session_string import decode_session_string
from vault.storage import FileStorage, MemoryStorage
from vault.storage.installed import default_layout, installed_client

from .cli_helpers import json_info, run_cli
from .encrypted_helpers import log_in

PASSPHRASE = "a path is a name too 12"


def _version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        [(number,)] = db.execute("SELECT number FROM version").fetchall()
    finally:
        db.close()
    return int(number)


async def _create(storage: FileStorage) -> None:
    await storage.open()
    await storage.dc_id(2)
    await storage.save()
    await storage.close()


@pytest.mark.parametrize(
    ("name", "workdir", "where"),
    [
        ("acc", ".", "acc.session"),  # the client's form, unchanged
        ("acc.session", ".", "acc.session"),
        ("sub/acc.session", ".", "sub/acc.session"),
        ("sub/acc", ".", "sub/acc.session"),
        ("ABSOLUTE/acc.session", "elsewhere", "acc.session"),  # an absolute path wins
    ],
)
async def test_name_may_be_a_path(tmp_path: Path, name: str, workdir: str, where: str) -> None:
    if name.startswith("ABSOLUTE/"):
        name = str(tmp_path / name.removeprefix("ABSOLUTE/"))
    storage = FileStorage(name, workdir=tmp_path / workdir if workdir != "." else tmp_path)
    assert storage.name == "acc"
    assert storage.database == tmp_path / where
    await _create(storage)
    assert (tmp_path / where).is_file()
    assert not list(tmp_path.rglob("*.session.session"))


async def test_a_path_binds_the_session_name_the_cli_uses(tmp_path: Path) -> None:
    """``EncryptedStorage(FileStorage("/dir/acc.session"))`` seals for session "acc", as the
    CLI names that file: ``info`` sees no rename."""
    path = tmp_path / "acc.session"
    storage = EncryptedStorage(FileStorage(str(path)), passphrase=PASSPHRASE)
    await storage.open()
    await log_in(storage)
    await storage.save()
    await storage.close()
    facts = json_info(run_cli("info", "--json", path))
    assert facts["encryption"]["bound_to"] == facts["session_name"] == "acc"
    assert facts["new_file_layout"] == default_layout()


async def test_new_files_get_the_installed_clients_layout_unless_told(tmp_path: Path) -> None:
    # No Pyrogram-family client in the main test environment: Pyrofork's layout. The compat
    # tests (tests/compat/test_clients.py) check each client's own default under nox.
    assert installed_client() is None
    await _create(FileStorage("default", workdir=tmp_path))
    assert _version(tmp_path / "default.session") == 4
    await _create(FileStorage("chosen", workdir=tmp_path, layout="kurigram"))
    assert _version(tmp_path / "chosen.session") == 7


async def test_an_encrypted_string_names_the_way_to_open_it() -> None:
    storage = EncryptedStorage(MemoryStorage(), passphrase=PASSPHRASE)
    await storage.open()
    await log_in(storage)
    text = await storage.export_session_string()
    await storage.close()
    with pytest.raises(InvalidSessionString) as caught:
        decode_session_string(text)
    message = str(caught.value)
    assert "EncryptedStorage(MemoryStorage(), session_string=..., passphrase=...)" in message
    assert text not in message
    reopened = EncryptedStorage(MemoryStorage(), session_string=text, passphrase=PASSPHRASE)
    await reopened.open()
    try:
        assert await reopened.auth_key() is not None
    finally:
        await reopened.close()
