"""Sealing the peer cache rows already stored in a session file (``encrypt``, ``seal-peers``):
each username and phone number is replaced by its blind-index token, keeping every other
column (dates included, so expiry is unchanged).

``seal-peers`` runs :func:`seal_cached_rows` on the temporary copy
:func:`~vault.cli.rewrite.rewrite` makes, which then compacts it (``secure_delete``,
``VACUUM``, WAL truncated) and replaces the file atomically. ``encrypt`` runs :func:`seal_rows`
in the transaction of :func:`~vault.cli.rewrite.overwrite_auth_key` on the file itself
(``secure_delete`` zeroes the replaced values). Either way a crash leaves the old session or
the new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..crypto.peer_index import PeerIndex

__all__ = ["seal_cached_rows", "seal_rows"]


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    return {row[1]: str(row[2]).upper() for row in conn.execute(f"PRAGMA table_info({table})")}


#: A column to seal: ``(table, column, token function)``.
_Column = tuple[str, str, Callable[[str], str]]


def _plan(conn: sqlite3.Connection, index: PeerIndex) -> list[_Column]:
    """``(table, column, token)`` for every column holding usernames or phone numbers, in
    either layout: Pyrofork's ``peers.username`` and ``usernames.id`` (the username is the
    key), Kurigram's ``usernames.username``; ``peers.phone_number`` in both."""
    plan: list[_Column] = []
    peers = _columns(conn, "peers")
    if "username" in peers:
        plan.append(("peers", "username", index.username))
    if "phone_number" in peers:
        plan.append(("peers", "phone_number", index.phone))
    usernames = _columns(conn, "usernames")
    if "username" in usernames:
        plan.append(("usernames", "username", index.username))
    elif usernames.get("id") == "TEXT":
        plan.append(("usernames", "id", index.username))
    return plan


def seal_cached_rows(path: Path, index: PeerIndex) -> int:
    """Replace every stored username and phone number of the database at ``path`` by its token
    under ``index``, in one transaction; returns how many values were replaced.

    Rows are deleted and inserted again rather than updated, so the clients' ``AFTER UPDATE``
    triggers do not reset their dates."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        replaced = seal_rows(conn, index)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return replaced


def seal_rows(conn: sqlite3.Connection, index: PeerIndex) -> int:
    """:func:`seal_cached_rows` inside the transaction the caller holds on ``conn``."""
    replaced = 0
    for table, column, token in _plan(conn, index):
        names = list(_columns(conn, table))
        at = names.index(column)
        rows = conn.execute(
            f"SELECT rowid, {', '.join(names)} FROM {table} WHERE {column} IS NOT NULL"
        ).fetchall()
        conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(r[0],) for r in rows])
        sealed = [(*r[1 : at + 1], token(str(r[at + 1])), *r[at + 2 :]) for r in rows]
        marks = ", ".join("?" * len(names))
        conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", sealed)
        replaced += len(rows)
    return replaced
