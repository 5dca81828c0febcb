"""The SQLite session layouts, their version numbers and the migrations from older files.

Two layouts, each with all of its SQL in one :class:`Layout`:

* version 4, Pyrofork's layout (vault's default; Pyrogram 2.x files are version 3 and are
  migrated to it), plus indexes vault adds with ``IF NOT EXISTS`` so that every client still
  opens vault's files. Migrations run inside one transaction: an interrupted migration leaves
  the file as it was.
* version 7, Kurigram's and Irenogram's layout: server address and port in ``sessions``, no
  username in ``peers``, every username of a peer in a ``usernames(id, username)`` table keyed by
  peer id. vault reads and writes it as it is and never migrates it (those clients must still
  open it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from ..errors import SchemaError
from ..peers import AnyPeerRow, full_peer_rows
from .datacenters import public_address

__all__ = [
    "KURIGRAM",
    "KURIGRAM_VERSION",
    "LAYOUTS",
    "MERGE_UPDATE_STATE",
    "PYROFORK",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "Layout",
    "LayoutName",
    "create_statements",
    "detect_version",
    "layout_named",
    "migration_statements",
    "open_statements",
]

SCHEMA_VERSION: Final = 4
#: Kurigram's and Irenogram's layout: server address and port in ``sessions``, usernames in a
#: table of their own keyed by peer id.
KURIGRAM_VERSION: Final = 7
#: Versions vault opens: Pyrogram 1.x/2.x and Pyrofork (1 to 4, migrated to 4) and Kurigram (7).
READABLE_VERSIONS: Final = frozenset({1, 2, 3, SCHEMA_VERSION, KURIGRAM_VERSION})

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


#: Kurigram's ``set_update_state``: insert, or update the fields given (not ``None``).
MERGE_UPDATE_STATE: Final = (
    "INSERT INTO update_state (id, pts, qts, date, seq) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET pts = coalesce(excluded.pts, pts), "
    "qts = coalesce(excluded.qts, qts), date = coalesce(excluded.date, date), "
    "seq = coalesce(excluded.seq, seq)"
)

_VERSION_TABLE = "CREATE TABLE version (number INTEGER PRIMARY KEY)"


def create_statements() -> list[str]:
    """Statements that create a new, empty session database of :data:`SCHEMA_VERSION`."""
    return [
        _SESSIONS,
        _PEERS,
        _PEERS_TRIGGER,
        _VERSION_TABLE,
        *_V4_ADDITIONS,
        f"INSERT INTO version VALUES ({SCHEMA_VERSION})",
        "INSERT INTO sessions VALUES (2, NULL, NULL, NULL, 0, NULL, NULL)",
    ]


# --- version 7: Kurigram's and Irenogram's layout ----------------------------------------------

_V7_SESSIONS = """
CREATE TABLE sessions
(
    dc_id          INTEGER PRIMARY KEY,
    server_address TEXT,
    port           INTEGER,
    api_id         INTEGER,
    test_mode      INTEGER,
    auth_key       BLOB,
    date           INTEGER NOT NULL,
    user_id        INTEGER,
    is_bot         INTEGER
)"""

_V7_PEERS = """
CREATE TABLE peers
(
    id             INTEGER PRIMARY KEY,
    access_hash    INTEGER,
    type           INTEGER NOT NULL,
    phone_number   TEXT,
    last_update_on INTEGER NOT NULL DEFAULT (CAST(STRFTIME('%s', 'now') AS INTEGER))
)"""

# No key: a peer has any number of usernames, and the clients insert them as they come.
_V7_USERNAMES = """
CREATE TABLE usernames
(
    id       INTEGER,
    username TEXT,
    FOREIGN KEY (id) REFERENCES peers (id)
)"""


def _v7_create_statements() -> list[str]:
    found = public_address(2, False)  # a new session starts on data center 2, as in Pyrofork's
    assert found is not None
    address, port = found
    return [
        _V7_SESSIONS,
        _V7_PEERS,
        _V7_USERNAMES,
        _UPDATE_STATE,
        _VERSION_TABLE,
        _PEERS_TRIGGER,
        # The indexes those clients make (bar one on peers.id, which is the rowid already).
        "CREATE INDEX idx_peers_phone_number ON peers (phone_number)",
        "CREATE INDEX idx_usernames_id ON usernames (id)",
        "CREATE INDEX idx_usernames_username ON usernames (username)",
        f"INSERT INTO version VALUES ({KURIGRAM_VERSION})",
        f"INSERT INTO sessions VALUES (2, '{address}', {port}, NULL, NULL, NULL, 0, NULL, NULL)",
    ]


# --- layouts -----------------------------------------------------------------------------------

LayoutName = Literal["pyrofork", "kurigram"]
_SESSION_FIELDS: Final = ("dc_id", "api_id", "test_mode", "auth_key", "date", "user_id", "is_bot")
#: Rows passed to ``executemany``.
Params = Sequence[object]


@dataclass(frozen=True)
class Layout:
    """One on-disk layout of a session database and the SQL that differs between layouts.

    Peer and username statements take ``{now}``, the write time, as a literal (formatted in
    once per call). Username statements take ``(peer_id, username)`` parameters.
    """

    name: LayoutName
    version: int
    #: Columns of the one ``sessions`` row that the accessors read and write.
    session_columns: frozenset[str]
    create: tuple[str, ...]
    #: Insert or replace a peer; parameters as :meth:`peer_params` makes them.
    upsert_peer: str
    #: ``id, access_hash, type, last_update_on`` of the peers a username names, newest first.
    peer_by_username: str
    #: ``peer_id, last_update_on`` of an extra username, when extras are kept apart.
    alias_by_username: str | None
    delete_usernames: str
    insert_username: str

    @property
    def usernames_in_peers(self) -> bool:
        """Whether ``peers`` has a username column (Pyrofork's layout)."""
        return self.alias_by_username is not None

    def peer_params(self, rows: list[AnyPeerRow]) -> tuple[Sequence[Params], dict[int, list[str]]]:
        """Parameters for :attr:`upsert_peer` from rows of either shape, and the usernames to
        store apart: in Kurigram's layout, a five-field row's username replaces the peer's
        usernames (none if it is ``None``)."""
        if self.usernames_in_peers:
            # The usual call (all rows of five fields) is passed on as it is.
            return (list(full_peer_rows(rows)) if 4 in set(map(len, rows)) else rows), {}
        params: list[Params] = []
        usernames: dict[int, list[str]] = {}
        for row in rows:
            if len(row) == 4:
                params.append(row)  # no username: the peer's usernames are left alone
                continue
            peer_id, access_hash, peer_type, username, phone_number = row
            params.append((peer_id, access_hash, peer_type, phone_number))
            usernames[peer_id] = [] if username is None else [username]
        return params, usernames


PYROFORK: Final = Layout(
    name="pyrofork",
    version=SCHEMA_VERSION,
    session_columns=frozenset(_SESSION_FIELDS),
    create=tuple(create_statements()),
    upsert_peer=(
        "REPLACE INTO peers (id, access_hash, type, username, phone_number, last_update_on) "
        "VALUES (?, ?, ?, ?, ?, {now})"
    ),
    # No LIMIT: with one, SQLite's sorter takes a slower path for the usual single row.
    peer_by_username=(
        "SELECT id, access_hash, type, last_update_on FROM peers WHERE username = ? "
        "ORDER BY last_update_on DESC"
    ),
    alias_by_username=(
        "SELECT peer_id, last_update_on FROM usernames WHERE id = ? "
        "ORDER BY last_update_on DESC LIMIT 1"
    ),
    delete_usernames="DELETE FROM usernames WHERE peer_id = ?",
    insert_username="REPLACE INTO usernames (peer_id, id, last_update_on) VALUES (?, ?, {now})",
)

KURIGRAM: Final = Layout(
    name="kurigram",
    version=KURIGRAM_VERSION,
    session_columns=frozenset({*_SESSION_FIELDS, "server_address", "port"}),
    create=tuple(_v7_create_statements()),
    upsert_peer=(
        "REPLACE INTO peers (id, access_hash, type, phone_number, last_update_on) "
        "VALUES (?, ?, ?, ?, {now})"
    ),
    # A username's age is its peer's, as those clients count it.
    peer_by_username=(
        "SELECT p.id, p.access_hash, p.type, p.last_update_on FROM usernames AS u "
        "JOIN peers AS p ON p.id = u.id WHERE u.username = ? ORDER BY p.last_update_on DESC"
    ),
    alias_by_username=None,
    delete_usernames="DELETE FROM usernames WHERE id = ?",
    insert_username="INSERT INTO usernames (id, username) VALUES (?, ?)",
)

LAYOUTS: Final = {layout.name: layout for layout in (PYROFORK, KURIGRAM)}


def layout_named(name: str) -> Layout:
    """The layout called ``name`` (``"pyrofork"`` or ``"kurigram"``); :class:`ValueError` else."""
    try:
        return LAYOUTS[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"unknown session layout {name!r}; use one of {', '.join(sorted(LAYOUTS))}"
        ) from None


def open_statements(version: int | None, new: Layout) -> tuple[Layout, list[str]]:
    """The layout of a database of ``version`` (``None``: empty, to be created in ``new``)
    and the statements that create or migrate it; run them in one transaction."""
    if version is None:
        return new, list(new.create)
    if version == KURIGRAM_VERSION:
        return KURIGRAM, []
    return PYROFORK, migration_statements(version)


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
    if version != SCHEMA_VERSION:
        # Only a real change: an UPDATE rewrites its page even to the same value, and that
        # write would cost every open() a commit and close() a checkpoint.
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
    if version not in READABLE_VERSIONS:
        raise SchemaError(
            f"the session file has schema version {version}, which this version of vault "
            f"cannot read (it reads versions 1 to {SCHEMA_VERSION}: Pyrogram 2.x and Pyrofork, "
            f"and {KURIGRAM_VERSION}: Kurigram and Irenogram); upgrade session-vault, or open "
            "the file with the client that wrote it and export a session string"
        )
    if version == KURIGRAM_VERSION and not {"usernames", "update_state"} <= tables:
        raise SchemaError(
            f"the session file has schema version {version} (Kurigram's layout) but lacks its "
            "usernames or update_state table; restore the file from a backup"
        )
    return version


def is_not_a_database(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite refused a file because it is not a database at all."""
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "encrypted" in text
