"""encrypt_session_file: the one explicit way a plaintext Telethon file becomes encrypted."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("telethon")

from telethon.sessions import SQLiteSession

from vault.crypto import CHEAP_KDF
from vault.errors import (
    CorruptedError,
    InvalidValueError,
    SchemaError,
    SessionInUseError,
    WrongKeyError,
)
from vault.telethon import decrypt_session_file, encrypt_session_file

from .helpers import AUTH_KEY, DC, PASSPHRASE, digest, encrypted, files_holding, plaintext_file


def test_encrypted_in_place_with_no_plaintext_left(tmp_path: Path) -> None:
    path = plaintext_file(tmp_path / "acct")
    path.chmod(0o644)  # as Telethon leaves it under a usual umask
    assert files_holding(path, AUTH_KEY) == ["main file"]
    assert encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    # Telethon rewrote the row on every change, leaving stale copies in free space: none of
    # them, and no journal or WAL, may keep the key.
    assert files_holding(path, AUTH_KEY) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acct.session"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    session = encrypted(tmp_path / "acct")
    assert session.auth_key.key == AUTH_KEY
    assert (session.dc_id, session.server_address, session.port, session.takeout_id) == (
        *DC,
        7,
    )


def test_a_second_run_refuses_and_changes_nothing(tmp_path: Path) -> None:
    plaintext_file(tmp_path / "acct")
    encrypt_session_file(str(tmp_path / "acct.session"), passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    before = digest(tmp_path / "acct.session")
    with pytest.raises(InvalidValueError, match="already encrypted"):
        encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    assert digest(tmp_path / "acct.session") == before


def test_a_session_without_a_key_is_left_alone(tmp_path: Path) -> None:
    SQLiteSession(str(tmp_path / "new")).close()
    before = digest(tmp_path / "new.session")
    assert encrypt_session_file(tmp_path / "new", key=os.urandom(32)) is False
    assert digest(tmp_path / "new.session") == before


def test_not_a_telethon_file(tmp_path: Path) -> None:
    path = tmp_path / "other.session"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sessions (dc_id, api_id, auth_key)")
    conn.close()
    with pytest.raises(SchemaError, match="not a Telethon session file"):
        encrypt_session_file(path, passphrase=PASSPHRASE)
    with pytest.raises(ValueError, match="passphrase"):
        encrypt_session_file(path)


def test_a_file_held_by_a_writer_is_refused(tmp_path: Path) -> None:
    path = plaintext_file(tmp_path / "acct")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SessionInUseError):
            encrypt_session_file(path, passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert files_holding(path, AUTH_KEY) == ["main file"]


def test_import_vault_never_imports_telethon() -> None:
    code = (
        "import sys, vault, vault.telethon; "
        "vault.telethon.encrypt_telethon_string; "
        "assert 'telethon' not in sys.modules, 'telethon imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_decrypt_gives_telethon_its_file_back(tmp_path: Path) -> None:
    plaintext_file(tmp_path / "acct")
    encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    assert encrypted(tmp_path / "acct").auth_key.key == AUTH_KEY
    before = digest(tmp_path / "acct.session")
    with pytest.raises(WrongKeyError):
        decrypt_session_file(tmp_path / "acct", passphrase="not it")
    assert digest(tmp_path / "acct.session") == before
    decrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE)
    telethon = SQLiteSession(str(tmp_path / "acct"))
    assert telethon.auth_key.key == AUTH_KEY
    assert (telethon.dc_id, telethon.server_address, telethon.port) == DC
    telethon.close()
    with pytest.raises(InvalidValueError, match="not encrypted"):
        decrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE)


def test_decrypt_refuses_an_envelope_from_another_file(tmp_path: Path) -> None:
    for name in ("one", "two"):
        plaintext_file(tmp_path / name)
        encrypt_session_file(tmp_path / name, passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    (tmp_path / "one.session").replace(tmp_path / "two.session")
    with pytest.raises(CorruptedError, match="another session"):
        decrypt_session_file(tmp_path / "two", passphrase=PASSPHRASE)
