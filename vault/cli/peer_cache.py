"""The peer cache rows already stored in a session file: :func:`seal_rows` replaces each
username and phone number by its blind-index token (``encrypt``, ``seal-peers``), keeping every
other column (dates included, so expiry is unchanged); :func:`clear_cached_tokens` empties the
tokens of a decrypted session.

:func:`seal_rows` runs in the transaction of :func:`~vault.cli.rewrite.overwrite_auth_key` on
the file itself, which also stores the envelope holding the index key: a crash leaves the old
session or the new, and ``secure_delete`` zeroes the replaced values.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..crypto.peer_index import PeerIndex

__all__ = ["clear_cached_tokens", "seal_rows"]


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    return {row[1]: str(row[2]).upper() for row in conn.execute(f"PRAGMA table_info({table})")}


#: A column to seal: ``(table, column, what it holds: "username" or "phone")``.
_Column = tuple[str, str, str]


def _plan(conn: sqlite3.Connection) -> list[_Column]:
    """The columns holding usernames or phone numbers, in either layout: Pyrofork's
    ``peers.username`` and ``usernames.id`` (the username is the key), Kurigram's
    ``usernames.username``; ``peers.phone_number`` in both."""
    plan: list[_Column] = []
    peers = _columns(conn, "peers")
    if "username" in peers:
        plan.append(("peers", "username", "username"))
    if "phone_number" in peers:
        plan.append(("peers", "phone_number", "phone"))
    usernames = _columns(conn, "usernames")
    if "username" in usernames:
        plan.append(("usernames", "username", "username"))
    elif usernames.get("id") == "TEXT":
        plan.append(("usernames", "id", "username"))
    return plan


def seal_rows(conn: sqlite3.Connection, index: PeerIndex) -> int:
    """Replace every stored username and phone number by its token under ``index``, inside
    the transaction the caller holds on ``conn``; returns how many values were replaced.

    Rows are deleted and inserted again rather than updated, so the clients' ``AFTER UPDATE``
    triggers do not reset their dates."""
    replaced = 0
    for table, column, kind in _plan(conn):
        token = index.username if kind == "username" else index.phone
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


def clear_cached_tokens(path: Path) -> None:
    """Empty the tokens of the session file at ``path`` (a private copy): usernames and phone
    numbers become NULL, the ``usernames`` rows go; ids and access hashes stay, and the client
    stores the plain values again as it meets the peers."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        for table, column, _ in _plan(conn):
            if table == "usernames":
                conn.execute("DELETE FROM usernames")
            else:
                conn.execute(f"UPDATE {table} SET {column} = NULL")
        conn.execute("COMMIT")
    finally:
        conn.close()
