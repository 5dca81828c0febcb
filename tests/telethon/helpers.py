"""Shared by the Telethon tests: sessions made by Telethon itself, and a scan of the files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("telethon")

from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession, StringSession

from vault.crypto import CHEAP_KDF
from vault.telethon import EncryptedSession

from ..tampering import leave_stale_copy

PASSPHRASE = "telethon test passphrase"
AUTH_KEY = os.urandom(256)
DC = (4, "149.154.167.91", 443)
SIDE_SUFFIXES = ("", "-journal", "-wal", "-shm")


def encrypted(name: Path | str, **options: Any) -> EncryptedSession:
    """An EncryptedSession over ``SQLiteSession(name)`` (a cheap KDF; by default unlocked with
    the test passphrase)."""
    if not {"passphrase", "keyring", "key"} & options.keys():
        options["passphrase"] = PASSPHRASE
    return EncryptedSession(SQLiteSession(str(name)), kdf=CHEAP_KDF, **options)


def logged_in(session: Any, auth_key: bytes = AUTH_KEY) -> Any:
    """What a client does after its first login: set the dc, then the new auth key; save."""
    session.set_dc(*DC)
    session.auth_key = AuthKey(auth_key)
    session.save()
    return session


def plaintext_file(name: Path, auth_key: bytes = AUTH_KEY) -> Path:
    """A session file written by Telethon alone (several writes, as a client's life makes)."""
    session = SQLiteSession(str(name))
    logged_in(session, auth_key)
    session.set_dc(*DC)
    session.takeout_id = 7
    session.save()
    session.close()
    path = Path(f"{name}.session")
    leave_stale_copy(path)
    assert path.read_bytes().count(auth_key) == 2, "the stale copy was not made"
    return path


def plaintext_string(auth_key: bytes = AUTH_KEY) -> str:
    """A ``StringSession`` string made by Telethon."""
    return str(logged_in(StringSession(), auth_key).save())


def files_holding(path: Path, secret: bytes) -> list[str]:
    """The files of a session (itself, journal, WAL) whose bytes contain ``secret``."""
    return [
        suffix or "main file"
        for suffix in SIDE_SUFFIXES
        if Path(f"{path}{suffix}").exists() and secret in Path(f"{path}{suffix}").read_bytes()
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
