"""The practical limit: plain ``sqlite3`` with the session schema, no storage layer at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vault.peers import PeerRow, get_input_peer
from vault.storage.schema import create_statements


class RawSQLite:
    """A WAL file written with one ``executemany`` per call, read with one query per lookup,
    all on the calling thread. Only the peer and update-state workloads apply to it."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.path = workdir / f"{name}.raw.db"
        self.conn: sqlite3.Connection | None = None

    def _c(self) -> sqlite3.Connection:
        assert self.conn is not None
        return self.conn

    async def open(self) -> None:
        new = not self.path.exists()
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if new:
            for statement in create_statements():
                self.conn.execute(statement)

    async def close(self) -> None:
        self._c().close()

    async def save(self) -> None:
        return

    async def update_peers(self, peers: Iterable[PeerRow]) -> None:
        c = self._c()
        c.execute("BEGIN")
        c.executemany(
            "REPLACE INTO peers (id, access_hash, type, username, phone_number, last_update_on)"
            " VALUES (?, ?, ?, ?, ?, 0)",
            peers,
        )
        c.execute("COMMIT")

    async def get_peer_by_id(self, peer_id: int) -> Any:
        row = (
            self._c()
            .execute("SELECT id, access_hash, type FROM peers WHERE id = ?", (peer_id,))
            .fetchone()
        )
        if row is None:
            raise KeyError(peer_id)
        return get_input_peer(*row)

    async def get_peer_by_username(self, username: str) -> Any:
        row = (
            self._c()
            .execute("SELECT id, access_hash, type FROM peers WHERE username = ?", (username,))
            .fetchone()
        )
        if row is None:
            raise KeyError(username)
        return get_input_peer(*row)

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        row = (
            self._c()
            .execute(
                "SELECT id, access_hash, type FROM peers WHERE phone_number = ?", (phone_number,)
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(phone_number)
        return get_input_peer(*row)

    async def update_state(self, value: Any = None) -> Any:
        c = self._c()
        if isinstance(value, int):
            c.execute("DELETE FROM update_state WHERE id = ?", (value,))
        else:
            c.execute("REPLACE INTO update_state VALUES (?, ?, ?, ?, ?)", value)
        return None

    async def remove_state(self, chat_id: int) -> None:
        await self.update_state(chat_id)
