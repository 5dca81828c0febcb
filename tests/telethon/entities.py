"""Shared by the Telethon entity cache tests: entities as a client's results bring them, the
lookups Telethon makes by them, and a scan of a session's files for their plain values."""

from __future__ import annotations

import datetime
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("telethon")

from telethon.sessions import SQLiteSession
from telethon.tl import types

from .helpers import SIDE_SUFFIXES, leave_stale_copy, logged_in

COUNT = 300
DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
#: Every username and name holds "vault" (any case), which no token can hold (username tokens
#: are "t" and hex, phone tokens 18 digits, name tokens hex); every phone number is 999555 and
#: 6 digits, matched as text only where no hex digit is next to it: a hex token holds such a
#: run of digits by chance (about once in a thousand files of this size), never bounded so.
PLAIN_TEXT = re.compile(rb"vault|(?<![0-9a-f])999555[0-9]{6}(?![0-9a-f])", re.IGNORECASE)
PHONE_PREFIX = "999555"


def user(i: int) -> Any:
    return types.User(
        id=7_000_000 + i, access_hash=1000 + i, username=f"VaultUser{i:04d}",
        phone=f"{PHONE_PREFIX}{i:06d}", first_name=f"Vaulter{i:04d}", last_name="Smith",
    )  # fmt: skip


def channel(i: int) -> Any:
    return types.Channel(
        id=1_500_000_000 + i, title=f"Vault channel {i}", photo=types.ChatPhotoEmpty(),
        date=DATE, access_hash=-(5000 + i), username=f"vault_channel_{i}",
        usernames=[types.Username(f"vault_alias_{i}", active=True)],
    )  # fmt: skip


COLLECTIBLE = types.User(
    id=9_000_001, access_hash=99, usernames=[types.Username("vault_collectible", active=True)],
    first_name="Vault collectible",
)  # fmt: skip
CHAT = types.Chat(
    id=4_000_003, title="vault group", photo=types.ChatPhotoEmpty(), participants_count=3,
    date=DATE, version=1,
)  # fmt: skip


def fill(session: Any) -> None:
    """Entities as a client's results bring them: a result with users and chats, a bare list
    of users, and the client's own entry (an InputPeerUser with id 0)."""
    users = [user(i) for i in range(COUNT)]
    chats = [channel(i) for i in range(5)] + [CHAT]
    session.process_entities(types.contacts.ResolvedPeer(types.PeerUser(1), chats, users[:100]))
    session.process_entities([*users[100:], COLLECTIBLE])
    session.process_entities(types.contacts.ResolvedPeer(None, [types.InputPeerUser(0, 42)], []))
    session.save()


def check_lookups(session: Any, ids: tuple[int, ...] = (0, 137, COUNT - 1)) -> None:
    """Each entity is found by every form Telethon finds it by."""
    for i in ids:
        found = types.InputPeerUser(7_000_000 + i, 1000 + i)
        name = f"VaultUser{i:04d}"
        forms = (name, name.lower(), name.upper(), f"@{name}", f" @{name} ", f"t.me/{name}",
                 f"https://t.me/{name}/", f"telegram.me/{name}", f"{PHONE_PREFIX}{i:06d}",
                 f"+{PHONE_PREFIX}{i:06d}", f"+{PHONE_PREFIX[:3]} {PHONE_PREFIX[3:]} {i:06d}",
                 f"Vaulter{i:04d} Smith", 7_000_000 + i)  # fmt: skip
        for form in forms:
            assert session.get_input_entity(form) == found, form
    first = types.InputPeerChannel(1_500_000_000, -5000)
    for form in ("vault_channel_0", "@Vault_Channel_0", "Vault channel 0", -1_001_500_000_000):
        assert session.get_input_entity(form) == first, form
    assert session.get_input_entity("vault group") == types.InputPeerChat(CHAT.id)
    assert session.get_input_entity(0) == types.InputPeerUser(0, 42)
    for missing in ("vaultuser9999", "+999555999999", "vaulter0000 smith", "Vault collectible x"):
        with pytest.raises(ValueError, match="Could not find input entity"):
            session.get_input_entity(missing)
    # Telethon stores no collectible usernames (only `username`): neither does the wrapper.
    with pytest.raises(ValueError, match="Could not find input entity"):
        session.get_input_entity("vault_collectible")
    assert session.get_input_entity("Vault collectible") == types.InputPeerUser(9_000_001, 99)


def plain_values(path: Path) -> dict[str, list[bytes]]:
    """Plain usernames, names or phone numbers (as text, or as the 6-byte big-endian integer
    SQLite stores Telethon's phone column as) in the session file, its journal, WAL or SHM."""
    phones = [int(f"{PHONE_PREFIX}{i:06d}").to_bytes(6, "big") for i in range(COUNT)]
    found = {}
    for suffix in SIDE_SUFFIXES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            data = side.read_bytes()
            hits = PLAIN_TEXT.findall(data)[:3] + [p for p in phones if p in data][:3]
            if hits:
                found[suffix or "main file"] = hits
    return found


def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, hash, username, phone, name FROM entities ORDER BY id")
        result = rows.fetchall()
    conn.close()
    return result


def plaintext_with_entities(name: Path) -> Path:
    """A Telethon-made file holding entities, and a stale copy of them in a free page."""
    session = logged_in(SQLiteSession(str(name)))
    fill(session)
    session.close()
    path = Path(f"{name}.session")
    leave_stale_copy(path, "entities")
    leave_stale_copy(path)
    return path
