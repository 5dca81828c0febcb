"""The SQLite session schema, its version number and the migrations from older files.

Version 4 is Pyrofork's layout (Pyrogram 2.x files are version 3), plus indexes vault adds with
``IF NOT EXISTS`` so that every Pyrogram-family client still opens vault's files. Migrations run
inside one transaction: an interrupted migration leaves the file as it was.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from ..errors import SchemaError

__all__ = [
    "KURIGRAM_VERSION",
    "SCHEMA_VERSION",
    "create_statements",
    "detect_version",
    "migration_statements",
]

SCHEMA_VERSION: Final = 4
#: Kurigram's and Irenogram's layout: server address and port in ``sessions``, usernames in a
#: table of their own keyed by peer id. Named in the error, not read.
KURIGRAM_VERSION: Final = 7

_SESSIONS = """
CREATE TABLE sessions
(
    dc_id     INTEGER PRIMARY KEY,
    api_id    INTEGER,
    test_mode INTEGER,
    auth_key  BLOB,
    date      INTEGER NOT NULL,
    user_id   INTEGER,
    is_bot    INTEGER
)"""

_PEERS = """
CREATE TABLE peers
(
    id             INTEGER PRIMARY KEY,
    access_hash    INTEGER,
    type           INTEGER NOT NULL,
    username       TEXT,
    phone_number   TEXT,
    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))
)"""

_PEERS_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS trg_peers_last_update_on
    AFTER UPDATE
    ON peers
BEGIN
    UPDATE peers
    SET last_update_on = CAST(STRFTIME('%s', 'now') AS INTEGER)
    WHERE id = NEW.id;
END"""

_UPDATE_STATE = """
CREATE TABLE IF NOT EXISTS update_state
(
    id   INTEGER PRIMARY KEY,
    pts  INTEGER,
    qts  INTEGER,
    date INTEGER,
    seq  INTEGER
)"""

_USERNAMES = """
CREATE TABLE IF NOT EXISTS usernames
(
    id             TEXT PRIMARY KEY,
    peer_id        INTEGER NOT NULL,
    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))
)"""

_USERNAMES_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS trg_usernames_last_update_on
    AFTER UPDATE
    ON usernames
BEGIN
    UPDATE usernames
    SET last_update_on = CAST(STRFTIME('%s', 'now') AS INTEGER)
    WHERE id = NEW.id;
END"""

_INDEXES = (
    # Pyrogram's idx_peers_id duplicates the INTEGER PRIMARY KEY (the rowid) and costs every
    # peer write an extra B-tree insert; no client's queries need it.
    "DROP INDEX IF EXISTS idx_peers_id",
    "CREATE INDEX IF NOT EXISTS idx_peers_username ON peers (username)",
    "CREATE INDEX IF NOT EXISTS idx_peers_phone_number ON peers (phone_number)",
    "CREATE INDEX IF NOT EXISTS idx_usernames_peer_id ON usernames (peer_id)",
)

# Tables and triggers added after Pyrogram's version 3; idempotent.
_V4_ADDITIONS = (_UPDATE_STATE, _USERNAMES, _USERNAMES_TRIGGER, *_INDEXES)


def create_statements() -> list[str]:
    """Statements that create a new, empty session database of :data:`SCHEMA_VERSION`."""
    return [
        _SESSIONS,
        _PEERS,
        _PEERS_TRIGGER,
        "CREATE TABLE version (number INTEGER PRIMARY KEY)",
        *_V4_ADDITIONS,
        f"INSERT INTO version VALUES ({SCHEMA_VERSION})",
        "INSERT INTO sessions VALUES (2, NULL, NULL, NULL, 0, NULL, NULL)",
    ]


def migration_statements(version: int) -> list[str]:
    """Statements that bring a file of ``version`` to :data:`SCHEMA_VERSION` (and re-check its
    indexes); run them in one transaction."""
    steps: list[str] = []
    if version == 1:
        # Pyrogram's own 1 -> 2 step: version 1 stored peer ids in an older scheme.
        steps.append("DELETE FROM peers")
    if version <= 2:
        steps.append("ALTER TABLE sessions ADD api_id INTEGER")
    steps.extend(_V4_ADDITIONS)
    steps.append(f"UPDATE version SET number = {SCHEMA_VERSION}")
    return steps


def detect_version(tables: set[str], version_rows: list[tuple[object, ...]]) -> int | None:
    """Tell which schema version a database has, from its table names and ``version`` rows.

    Returns ``None`` for an empty database (to be created). Raises :class:`SchemaError` for a
    database that is not a Pyrogram-family session, or one newer than vault understands.
    """
    if not tables:
        return None
    if not {"sessions", "peers", "version"} <= tables:
        raise SchemaError(
            "this SQLite file is not a Pyrogram-family session (no sessions/peers/version "
            "tables); check the path, or move the file away to start a new session"
        )
    if len(version_rows) != 1 or not isinstance(version_rows[0][0], int):
        raise SchemaError(
            "the session file's version table is damaged; restore the file from a backup"
        )
    version = version_rows[0][0]
    if version == KURIGRAM_VERSION:
        raise SchemaError(
            f"the session file has schema version {version}, the layout of Kurigram and "
            "Irenogram (Pyrogram 2.x and Pyrofork files are versions 3 and 4), which vault "
            "does not read yet; export a session string with that client "
            "(await client.export_session_string()) and import it into a vault storage"
        )
    if not 1 <= version <= SCHEMA_VERSION:
        raise SchemaError(
            f"the session file has schema version {version}, which this version of vault "
            f"cannot read (it reads versions 1 to {SCHEMA_VERSION}: Pyrogram 2.x and Pyrofork); "
            "upgrade session-vault, or open the file with the client that wrote it"
        )
    return version


def is_not_a_database(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite refused a file because it is not a database at all."""
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "encrypted" in text
