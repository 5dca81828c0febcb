"""EntityTokens: the peer index tokens in the shapes Telethon's entity cache stores and finds.

Telethon's sessions keep, for each entity, ``(id, hash, username, phone, name)`` and find an
entity by a string through the key's shape: digits are looked up as a phone number, a valid
username as a username, anything else (and anything not found) as an exact name. A token
therefore has the shape of what it replaces, so that the wrapped session stores it and finds it
again with its own code (``docs/format.md``, "Telethon entity cache")::

    username token = "t" || first 31 characters of the peer index username token
    phone token    = decimal(10^17 + int(first 16 characters of the phone token, 16) mod 9*10^17)
    name token     = the peer index name token

A username token is a valid, lower-case Telegram username (Telethon lower-cases usernames); a
phone token is 18 digits, stored as an integer by Telethon's ``phone integer`` column and
found by its phone lookup; a name token is 32 lower-case hex characters.

This module needs no Telethon: it also seals the ``entities`` table of a session file.
"""

from __future__ import annotations

import sqlite3

from ..crypto.peer_index import PeerIndex

__all__ = ["EntityTokens", "clear_entity_table", "seal_entity_table"]

_PHONE_BASE = 10**17
_PHONE_RANGE = 9 * 10**17


class EntityTokens:
    """The Telethon-shaped tokens under one :class:`~vault.crypto.peer_index.PeerIndex`."""

    def __init__(self, index: PeerIndex) -> None:
        self.index = index

    def __repr__(self) -> str:
        return "EntityTokens(<key hidden>)"

    def username(self, username: str) -> str:
        """The token stored in place of ``username`` (case, ``@`` and ``+`` ignored)."""
        return "t" + self.index.username(username)[:31]

    def phone(self, phone: str) -> str:
        """The token stored in place of the phone number ``phone`` (its digits count)."""
        digits = int(self.index.phone(phone)[:16], 16)
        return str(_PHONE_BASE + digits % _PHONE_RANGE)

    def name(self, name: str) -> str:
        """The token stored in place of a display name (an exact match)."""
        return self.index.name(name)

    def row(self, username: object, phone: object, name: object) -> tuple[object, object, object]:
        """The ``username``, ``phone`` and ``name`` values of an entity row, each sealed unless
        empty (``None`` and ``""`` hold nothing and are kept)."""
        return (
            username if _empty(username) else self.username(str(username)),
            phone if _empty(phone) else self.phone(str(phone)),
            name if _empty(name) else self.name(str(name)),
        )


def _empty(value: object) -> bool:
    return value is None or value == ""


def _has_entities(conn: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entities'"
    return conn.execute(query).fetchone() is not None


def seal_entity_table(conn: sqlite3.Connection, tokens: EntityTokens) -> int:
    """Replace every username, phone number and name in the ``entities`` table of a Telethon
    session file by its token (inside the caller's transaction); returns the rows sealed."""
    if not _has_entities(conn):
        return 0
    rows = conn.execute("SELECT id, username, phone, name FROM entities").fetchall()
    sealed = [
        (*tokens.row(username, phone, name), peer_id) for peer_id, username, phone, name in rows
    ]
    conn.executemany("UPDATE entities SET username = ?, phone = ?, name = ? WHERE id = ?", sealed)
    return len(sealed)


def clear_entity_table(conn: sqlite3.Connection) -> None:
    """Empty the sealed columns of the ``entities`` table (inside the caller's transaction):
    without the index key the tokens find nothing, and ids and access hashes still work."""
    if _has_entities(conn):
        conn.execute("UPDATE entities SET username = NULL, phone = NULL, name = NULL")
