"""Telethon ``.session`` files: their layout, owner-only modes, and encrypting one in place.

Telethon keeps one row in its ``sessions`` table (``dc_id, server_address, port, auth_key,
takeout_id, tmp_auth_key``). vault changes the ``auth_key`` column (an envelope instead of
256 bytes), empties ``tmp_auth_key`` and, with a sealed entity cache, stores tokens in the
``username``, ``phone`` and ``name`` columns of ``entities``; the file stays a Telethon
session file otherwise.
This module needs no Telethon: it reads the file with :mod:`sqlite3`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

from ..auth_key_field import new_index_key
from ..crypto.envelope import is_envelope
from ..crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..crypto.peer_index import PeerIndex
from ..errors import (
    CorruptedError,
    InvalidValueError,
    SchemaError,
    SessionInUseError,
    StorageError,
)
from ._entity_tokens import EntityTokens, clear_entity_table, seal_entity_table
from ._sealer import AuthKeySealer, is_plain_auth_key, new_keyset, parse_stored, unlock_keyset

__all__ = [
    "clear_entity_table",
    "decrypt_session_file",
    "encrypt_session_file",
    "scrub",
    "seal_entity_rows",
    "seal_session_entities",
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
    seal_peers: bool = True,
) -> bool:
    """Encrypt the plaintext auth key of a Telethon session file in place: the explicit
    migration :class:`~vault.telethon.EncryptedSession` asks for (it never encrypts a
    plaintext key by itself). ``name`` is what ``SQLiteSession(name)`` takes. With
    ``seal_peers`` (the default) the entity cache's usernames, phone numbers and names are
    replaced by tokens in the same transaction, as ``EncryptedSession`` then writes them.

    The file keeps Telethon's layout; it is made owner-only (0600), and rewritten so neither
    the plaintext key nor a plain cached value is left in its free pages or a journal (see
    SECURITY.md for what no program can scrub: copies, snapshots, SSD wear levelling). Close
    every client using the file first. Returns ``False`` if the file holds no auth key yet
    (nothing to do).

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
        keyset = new_keyset(kdf, passphrase, keyring, key)
        sealer = AuthKeySealer(keyset, session_name(path), index_key=new_index_key(seal_peers))
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            _begin(conn, path, stored, "encrypting")
            _store_envelope(conn, sealer, stored)
            if "tmp_auth_key" in columns:  # Telethon >= 1.40; a temporary key is a secret too
                conn.execute("UPDATE sessions SET tmp_auth_key = x''")
            conn.execute("COMMIT")
        finally:
            sealer.close()
        _scrub(conn)
    return True


def seal_session_entities(
    name: str | os.PathLike[str],
    *,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
    rebind: bool = False,
) -> bool:
    """Seal the plain entity cache of an encrypted Telethon session file (one encrypted
    with ``seal_peers=False``, or before sealing existed): its usernames, phone numbers and
    names are replaced by tokens under a new index key, sealed with the auth key, in one
    transaction; the file is then rebuilt so no plain value is left in its free pages or a
    journal. Close every client using the file first. Returns ``False`` if the cache was
    sealed already (nothing to do). With ``rebind``, a key sealed for another session name
    (a file copied or renamed on purpose) is accepted and sealed anew for this file's name, in
    the same transaction.

    Raises as :func:`decrypt_session_file` does, and :class:`~vault.errors.InvalidValueError`
    if the file is not encrypted (:func:`encrypt_session_file` seals the cache too).
    """
    path = session_path(name)
    with _connect(path) as conn:
        hint = "; encrypt_session_file() seals the entity cache with it"
        stored, sealer = _unlocked(
            conn, path, passphrase, keyring, key, kdf_budget, hint, rebind=rebind
        )
        try:
            plain = sealer.open(stored, rebind=rebind)
            if sealer.index_key is not None:
                return False
            sealer.set_index_key(new_index_key(True) or b"")
            conn.execute("PRAGMA journal_mode = WAL")
            _begin(conn, path, stored, "sealing")
            _store_envelope(conn, sealer, plain)
            conn.execute("COMMIT")
        finally:
            sealer.close()
        _scrub(conn)
    return True


def _store_envelope(conn: sqlite3.Connection, sealer: AuthKeySealer, plain: bytes | None) -> None:
    """Store ``plain`` sealed and, if the sealer has an index key, seal the entity cache with
    it (inside the caller's transaction: both or neither)."""
    conn.execute("UPDATE sessions SET auth_key = ?", (sealer.seal(plain),))
    index_key = sealer.index_key
    if index_key is not None:
        index = PeerIndex(index_key)
        try:
            seal_entity_rows(conn, index)
        finally:
            index.wipe()


def seal_entity_rows(conn: sqlite3.Connection, index: PeerIndex) -> int:
    """Replace every username, phone number and name cached in the ``entities`` table of the
    Telethon session file open on ``conn`` by its token under ``index``, inside the caller's
    transaction; returns the rows sealed. Tokens as :class:`~vault.telethon.EncryptedSession`
    stores and looks them up."""
    return seal_entity_table(conn, EntityTokens(index))


def _unlocked(  # noqa: PLR0917  # the public functions' arguments, passed on
    conn: sqlite3.Connection,
    path: Path,
    passphrase: Passphrase | None,
    keyring: bool | str,
    key: bytes | None,
    kdf_budget: KdfBudget,
    hint: str = "",
    *,
    rebind: bool = False,
) -> tuple[bytes, AuthKeySealer]:
    """The envelope of the encrypted file ``path`` and its sealer, unlocked (the envelope
    not opened yet); :class:`~vault.errors.InvalidValueError` (then ``hint``) if the file
    is not encrypted; ``rebind``: one sealed for another name is accepted."""
    _check_layout(conn, path)
    stored = _read_key(conn)
    if not stored or is_plain_auth_key(stored):
        raise InvalidValueError(f"the auth key in {path} is not encrypted{hint}")
    header = parse_stored(stored, session_name(path), rebind=rebind).header
    keyset = unlock_keyset(header, passphrase, keyring, key, kdf_budget)
    return stored, AuthKeySealer(keyset, session_name(path))


def _begin(conn: sqlite3.Connection, path: Path, stored: bytes, doing: str) -> None:
    """Start the write transaction; :class:`~vault.errors.SessionInUseError` if the stored
    auth key changed since it was read."""
    conn.execute("BEGIN IMMEDIATE")
    if _read_key(conn) != stored:
        conn.execute("ROLLBACK")
        raise SessionInUseError(f"{path} was changed while {doing}; retry")


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
    the account. The reverse of :func:`encrypt_session_file`; close every client first. A
    sealed entity cache cannot be turned back into plain values: its usernames, phone numbers
    and names are emptied (ids and access hashes stay; Telethon fetches the rest again).

    Raises :class:`~vault.errors.WrongKeyError`, :class:`~vault.errors.KdfBudgetError`,
    :class:`~vault.errors.CorruptedError` (the
    envelope was altered or belongs to another session file) and
    :class:`~vault.errors.InvalidValueError` if the key is not encrypted.
    """
    path = session_path(name)
    with _connect(path) as conn:
        stored, sealer = _unlocked(conn, path, passphrase, keyring, key, kdf_budget)
        try:
            plain = sealer.open(stored)
            _begin(conn, path, stored, "decrypting")
            # b"" is how Telethon itself stores "no auth key" (an envelope of an index only).
            conn.execute("UPDATE sessions SET auth_key = ?", (b"" if plain is None else plain,))
            if sealer.index_key is not None:
                clear_entity_table(conn)
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
