"""Telethon ``.session`` files: their layout, owner-only modes, and encrypting one in place.

Telethon keeps one row in its ``sessions`` table (``dc_id, server_address, port, auth_key,
takeout_id, tmp_auth_key``). vault changes only the ``auth_key`` column (an envelope instead of
256 bytes) and empties ``tmp_auth_key``; the file stays a Telethon session file otherwise.
This module needs no Telethon: it reads the file with :mod:`sqlite3`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

from ..crypto.envelope import is_envelope
from ..crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..errors import (
    CorruptedError,
    InvalidValueError,
    SchemaError,
    SessionInUseError,
    StorageError,
)
from ._sealer import AuthKeySealer, is_plain_auth_key, new_keyset, parse_stored, unlock_keyset

__all__ = [
    "decrypt_session_file",
    "encrypt_session_file",
    "scrub",
    "session_name",
    "session_path",
    "tighten",
]

EXTENSION = ".session"


def session_path(name: str | os.PathLike[str]) -> Path:
    """The file Telethon's ``SQLiteSession(name)`` uses (it adds ``.session`` if missing)."""
    text = os.fspath(name)
    return Path(text if text.endswith(EXTENSION) else text + EXTENSION)


def session_name(path: str | os.PathLike[str]) -> str:
    """The name an auth-key envelope in this file is bound to: ``my_account`` for
    ``my_account.session``, as for a Pyrogram session file of the same name."""
    return Path(path).name.removesuffix(EXTENSION)


def tighten(path: Path) -> None:
    """Make the session file owner-only (0600) if others may read it."""
    with contextlib.suppress(FileNotFoundError):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    if not path.is_file():
        raise StorageError(f"no Telethon session file at {path}; check the path")
    # A client holding the file answers within a second or not soon: don't wait longer.
    conn = sqlite3.connect(path, isolation_level=None, timeout=1.0)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        yield conn
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise SessionInUseError(
                f"{path} is in use by another program (a running client?); stop it and retry"
            ) from None
        raise StorageError(f"cannot update {path}: {error}") from None
    finally:
        conn.close()


def _check_layout(conn: sqlite3.Connection, path: Path) -> set[str]:
    """The columns of the ``sessions`` table, or :class:`~vault.errors.SchemaError`."""
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError:
        raise  # locked or unreadable: _connect says so
    except sqlite3.DatabaseError:  # not a database at all
        columns, tables = set(), set()
    if "version" not in tables or not {"dc_id", "server_address", "port", "auth_key"} <= columns:
        raise SchemaError(f"{path} is not a Telethon session file (Telethon 1.x); check the path")
    return columns


def scrub(name: str | os.PathLike[str]) -> None:
    """Rebuild a Telethon session file so no stale copy of an overwritten value (an envelope
    under a retired data key, a plaintext key) is left in it; every other connection to the
    file must be closed. See :func:`_scrub`."""
    path = session_path(name)
    with _connect(path) as conn:
        _check_layout(conn, path)
        _scrub(conn)


def _scrub(conn: sqlite3.Connection) -> None:
    """Rewrite the file so no stale copy of an overwritten value (a plaintext auth key) is
    left in its free pages or journals. The rebuild goes through a write-ahead log, so an
    interrupted scrub leaves a consistent file and old content is only overwritten in place,
    never copied to a rollback journal; the file returns to Telethon's journal mode after."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")


def encrypt_session_file(
    name: str | os.PathLike[str],
    *,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
    kdf: KdfParams = DEFAULT_KDF,
) -> bool:
    """Encrypt the plaintext auth key of a Telethon session file in place: the explicit
    migration :class:`~vault.telethon.EncryptedSession` asks for (it never encrypts a
    plaintext key by itself). ``name`` is what ``SQLiteSession(name)`` takes.

    The file keeps Telethon's layout; it is made owner-only (0600), and rewritten so the
    plaintext key is left in neither its free pages nor a journal (see SECURITY.md for what
    no program can scrub: copies, snapshots, SSD wear levelling). Close every client using
    the file first. Returns ``False`` if the file holds no auth key yet (nothing to do).

    Raises :class:`~vault.errors.InvalidValueError` if the key is already encrypted,
    :class:`~vault.errors.SchemaError` for a file that is not a Telethon session and
    :class:`~vault.errors.SessionInUseError` if a client holds it.
    """
    if passphrase is None and keyring is False and key is None:
        raise ValueError("encrypt_session_file needs a passphrase, keyring=True or a key")
    path = session_path(name)
    tighten(path)
    with _connect(path) as conn:
        columns = _check_layout(conn, path)
        stored = _read_key(conn)
        if not stored:
            return False
        if not is_plain_auth_key(stored):
            if is_envelope(stored):
                raise InvalidValueError(f"the auth key in {path} is already encrypted")
            raise CorruptedError(f"the auth key column of {path} holds no valid auth key")
        sealer = AuthKeySealer(new_keyset(kdf, passphrase, keyring, key), session_name(path))
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            if _read_key(conn) != stored:
                conn.execute("ROLLBACK")
                raise SessionInUseError(f"{path} was changed while encrypting; retry")
            envelope = sealer.seal(stored)
            conn.execute("UPDATE sessions SET auth_key = ?", (envelope,))
            if "tmp_auth_key" in columns:  # Telethon >= 1.40; a temporary key is a secret too
                conn.execute("UPDATE sessions SET tmp_auth_key = x''")
            conn.execute("COMMIT")
        finally:
            sealer.close()
        _scrub(conn)
    return True


def decrypt_session_file(
    name: str | os.PathLike[str],
    *,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
) -> None:
    """DANGEROUS: store the auth key of an encrypted Telethon session file in the clear
    again, so Telethon's own ``SQLiteSession`` opens it; anyone who copies the file then has
    the account. The reverse of :func:`encrypt_session_file`; close every client first.

    Raises :class:`~vault.errors.WrongKeyError`, :class:`~vault.errors.KdfBudgetError`,
    :class:`~vault.errors.CorruptedError` (the
    envelope was altered or belongs to another session file) and
    :class:`~vault.errors.InvalidValueError` if the key is not encrypted.
    """
    path = session_path(name)
    with _connect(path) as conn:
        _check_layout(conn, path)
        stored = _read_key(conn)
        if not stored or is_plain_auth_key(stored):
            raise InvalidValueError(f"the auth key in {path} is not encrypted")
        header = parse_stored(stored, session_name(path)).header
        keyset = unlock_keyset(header, passphrase, keyring, key, kdf_budget)
        sealer = AuthKeySealer(keyset, session_name(path))
        try:
            plain = sealer.open(stored)
            conn.execute("BEGIN IMMEDIATE")
            if _read_key(conn) != stored:
                conn.execute("ROLLBACK")
                raise SessionInUseError(f"{path} was changed while decrypting; retry")
            conn.execute("UPDATE sessions SET auth_key = ?", (plain,))
            conn.execute("COMMIT")
        finally:
            sealer.close()


def _read_key(conn: sqlite3.Connection) -> bytes | None:
    row = conn.execute("SELECT auth_key FROM sessions").fetchone()
    if row is None or row[0] is None:
        return None
    if not isinstance(row[0], bytes):
        raise CorruptedError("the auth key column of the session file holds no bytes")
    return row[0]
