"""Change a session file: through a verified copy (:func:`rewrite`), or, for the auth key field
alone, in place (:func:`overwrite_auth_key`).

:func:`rewrite` copies the session into a temporary file next to it (SQLite ``VACUUM INTO``:
only live data is copied), lets the command change the copy, compacts it, verifies it, checks
that a given secret (the plaintext auth key) appears nowhere in its bytes, and only then
replaces the original. Any failure, wrong passphrase included, leaves the original untouched;
a crash leaves the original or the finished new file, never neither.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from ..crypto.peer_index import PeerIndex
from .atomic import remove_stale_temps, remove_with_side_files, replace, scan_for, temp_path
from .exits import CliError, Exit
from .peer_cache import seal_rows

__all__ = ["RowSealer", "Step", "copy_database", "overwrite_auth_key", "rewrite"]

#: Free pages zeroed per blob (a blob may not exceed SQLite's length limit).
_SCRUB_PAGES = 4096
#: A step on the temporary copy, given its path.
Step = Callable[[Path], Awaitable[None]]
#: Seals the cached rows of a session file inside the transaction held on the connection.
RowSealer = Callable[[sqlite3.Connection, PeerIndex], int]


async def rewrite(
    path: Path,
    change: Step,
    verify: Step,
    *,
    forbidden: bytes | Callable[[], bytes | None] | None = None,
) -> None:
    """Replace ``path`` by a copy that ``change`` modified and ``verify`` accepted.

    Call it while holding :func:`~vault.cli.atomic.locked` on ``path``. ``forbidden``: bytes
    that must not remain anywhere in the new file or its side files, or a function that
    returns them (or ``None``) once ``change`` ran.
    """
    remove_stale_temps(path)
    temp = temp_path(path)
    try:
        await asyncio.to_thread(copy_database, path, temp)
        await change(temp)
        await asyncio.to_thread(_compact, temp)
        await verify(temp)
        secret = forbidden() if callable(forbidden) else forbidden
        if secret is not None and scan_for(temp, secret):
            raise CliError(
                Exit.INTERNAL,
                f"the plaintext auth key was still found in the new copy of {path}; the "
                "original file was left unchanged (please report this)",
            )
        replace(temp, path)
    finally:
        remove_with_side_files(temp)


async def overwrite_auth_key(
    path: Path,
    value: bytes | None,
    peer_index: PeerIndex | None = None,
    seal: RowSealer = seal_rows,
) -> None:
    """Store ``value`` in the auth key field of the session file ``path`` itself, overwriting
    the old value where it lies: ``secure_delete`` zeroes its freed bytes, and the write goes
    through the write-ahead log (a rollback journal would keep a copy of the old page in a
    deleted file), which is then checkpointed and truncated; the file's free pages are zeroed in
    the same transaction. With ``peer_index``, ``seal``
    replaces the cached usernames and phone numbers (a Pyrogram-family file's, by default) by
    their tokens the same way. One transaction: a crash leaves the old or the new session.
    Call it while holding :func:`~vault.cli.atomic.locked`."""
    await asyncio.to_thread(_overwrite, path, value, peer_index, seal)


def _overwrite(
    path: Path, value: bytes | None, peer_index: PeerIndex | None, seal: RowSealer
) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise CliError(
                Exit.FAILURE,
                f"{path} cannot use a write-ahead log (SQLite refused it), so its old auth key "
                "could not be overwritten safely; nothing was changed",
            )
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE sessions SET auth_key = ?", (value,))
            if peer_index is not None:
                seal(conn, peer_index)
            _zero_free_pages(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _zero_free_pages(conn: sqlite3.Connection) -> None:
    """Overwrite the free pages of the database with zeros, in the caller's transaction: a
    page freed while ``secure_delete`` was off (by the client's own SQLite, say) may still
    hold an old value. A table of zero-filled blobs takes every free page, and dropping it
    frees them again, zeroed; the file keeps its size, so no block of it is released."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if not free:
        return
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("CREATE TABLE session_vault_scrub (b BLOB)")
    for at in range(0, free, _SCRUB_PAGES):
        size = min(_SCRUB_PAGES, free - at) * page
        conn.execute("INSERT INTO session_vault_scrub VALUES (zeroblob(?))", (size,))
    conn.execute("DROP TABLE session_vault_scrub")


def copy_database(source: Path, target: Path) -> None:
    """Copy the live content of the SQLite database ``source`` into the new file ``target``
    (created owner-only). Reading leaves ``source``'s bytes unchanged."""
    target.touch(mode=0o600, exist_ok=False)
    conn = sqlite3.connect(source, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()


def _compact(path: Path) -> None:
    """Rebuild the database without free pages, and fold its write-ahead log into it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
