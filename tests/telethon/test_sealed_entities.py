"""The sealed entity cache of EncryptedSession (issues 14 and 15): usernames, phone numbers and
names reach the wrapped Telethon session only as tokens, and every lookup Telethon makes by
them still finds the entity, on SQLiteSession and MemorySession, through reopen, passphrase
change, data-key rotation and slot removal, and after encrypting a plaintext file."""

from __future__ import annotations

import datetime
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("telethon")

from telethon import TelegramClient
from telethon.sessions import MemorySession, SQLiteSession
from telethon.tl import types

from vault.crypto import CHEAP_KDF
from vault.crypto.peer_index import PeerIndex
from vault.errors import InvalidValueError
from vault.telethon import (
    EncryptedSession,
    decrypt_session_file,
    encrypt_session_file,
    seal_session_entities,
)
from vault.telethon._entity_tokens import EntityTokens

from .helpers import AUTH_KEY, PASSPHRASE, SIDE_SUFFIXES, encrypted, leave_stale_copy, logged_in

RAW_KEY = os.urandom(32)
COUNT = 300
DATE = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
#: Every username and name holds "vault" (any case); every phone number starts with these
#: digits. No token can hold either: username tokens are "t" and hex, phone tokens 18 digits
#: starting 1-9, name tokens hex.
PLAIN_TEXT = re.compile(rb"vault|999555", re.IGNORECASE)
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


def test_the_scan_finds_what_telethon_stores(tmp_path: Path) -> None:
    session = logged_in(SQLiteSession(str(tmp_path / "plain")))
    fill(session)
    session.close()
    found = plain_values(tmp_path / "plain.session")
    assert len(found["main file"]) == 6, found  # names, usernames and integer phone numbers


def test_no_plain_value_in_the_file_journal_wal_or_shm(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    assert session.peers_sealed
    fill(session)
    assert plain_values(tmp_path / "acct.session") == {}  # while open
    session.close()
    assert plain_values(tmp_path / "acct.session") == {}
    check_lookups(encrypted(tmp_path / "acct"))


@pytest.mark.parametrize("kind", ["sqlite", "memory", "string"])
def test_lookups_through_each_wrapped_session(tmp_path: Path, kind: str) -> None:
    if kind == "string":
        exported = logged_in(encrypted(tmp_path / "acct")).export_session_string()
        session = EncryptedSession.from_string(exported, passphrase=PASSPHRASE)
        inner: Any = session.inner
    else:
        inner = SQLiteSession(str(tmp_path / "acct")) if kind == "sqlite" else MemorySession()
        session = logged_in(EncryptedSession(inner, passphrase=PASSPHRASE, kdf=CHEAP_KDF))
    original = user(5)
    fill(session)
    check_lookups(session)
    assert original.username == "VaultUser0005" and original.first_name == "Vaulter0005"
    # The wrapped session itself finds nothing by a plain value: it holds only tokens.
    for plain in ("vaultuser0005", "999555000005", "Vaulter0005 Smith", "vault group"):
        with pytest.raises(ValueError):
            inner.get_input_entity(plain)
    assert inner.get_input_entity(7_000_005) == types.InputPeerUser(7_000_005, 1005)


def test_seal_peers_false_keeps_telethons_plain_cache(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct", seal_peers=False))
    assert not session.peers_sealed
    fill(session)
    check_lookups(session)
    session.close()
    assert plain_values(tmp_path / "acct.session")
    assert not encrypted(tmp_path / "acct").peers_sealed  # an existing session keeps its way


async def test_lookups_survive_reopen_passwd_rotation_and_remove_key(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    fill(session)
    session.close()
    rows = stored_rows(tmp_path / "acct.session")
    session = encrypted(tmp_path / "acct")
    check_lookups(session)
    await session.slots.add_key(RAW_KEY)
    await session.slots.change_passphrase("another passphrase", kdf=CHEAP_KDF)
    await session.slots.rotate()
    check_lookups(session)
    session.close()
    session = encrypted(tmp_path / "acct", key=RAW_KEY)
    check_lookups(session)
    await session.slots.remove(0)  # the passphrase slot
    assert [slot.kind.name for slot in session.key_slots] == ["RAW_KEY"]
    session.close()
    again = encrypted(tmp_path / "acct", key=RAW_KEY)
    check_lookups(again)
    assert again.auth_key.key == AUTH_KEY
    assert stored_rows(tmp_path / "acct.session") == rows  # the index key never changed
    assert plain_values(tmp_path / "acct.session") == {}


def test_a_session_not_logged_in_keeps_its_index_key(tmp_path: Path) -> None:
    session = encrypted(tmp_path / "acct")
    fill(session)  # before any auth key: an envelope holding only the index key is stored
    assert session.auth_key is None
    session.close()
    session = encrypted(tmp_path / "acct")
    assert session.auth_key is None and session.peers_sealed
    check_lookups(session)
    logged_in(session)
    session.auth_key = None  # logged out: the index key stays
    session.close()
    check_lookups(encrypted(tmp_path / "acct"))
    assert plain_values(tmp_path / "acct.session") == {}
    decrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE)  # Telethon's "no key"
    telethon = SQLiteSession(str(tmp_path / "acct"))
    assert not telethon.auth_key
    telethon.close()


def plaintext_with_entities(name: Path) -> Path:
    """A Telethon-made file holding entities, and a stale copy of them in a free page."""
    session = logged_in(SQLiteSession(str(name)))
    fill(session)
    session.close()
    path = Path(f"{name}.session")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("CREATE TABLE old_entities AS SELECT * FROM entities")
        conn.execute("DROP TABLE old_entities")
    conn.close()
    leave_stale_copy(path)
    return path


def test_encrypt_session_file_seals_a_plain_cache(tmp_path: Path) -> None:
    path = plaintext_with_entities(tmp_path / "acct")
    assert plain_values(path)
    assert encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    assert plain_values(path) == {}
    session = encrypted(tmp_path / "acct")
    assert session.peers_sealed
    check_lookups(session)
    session.close()

    decrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE)
    telethon = SQLiteSession(str(tmp_path / "acct"))
    assert telethon.auth_key.key == AUTH_KEY
    assert telethon.get_input_entity(7_000_005) == types.InputPeerUser(7_000_005, 1005)
    assert {row[2:] for row in stored_rows(path)} == {(None, None, None)}  # no stray tokens
    telethon.close()


def test_encrypt_session_file_can_keep_the_cache_plain(tmp_path: Path) -> None:
    plaintext_with_entities(tmp_path / "acct")
    encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF, seal_peers=False)
    session = encrypted(tmp_path / "acct")
    assert not session.peers_sealed
    check_lookups(session)


def test_seal_session_entities_migrates_an_encrypted_plain_cache(tmp_path: Path) -> None:
    path = plaintext_with_entities(tmp_path / "acct")
    encrypt_session_file(tmp_path / "acct", passphrase=PASSPHRASE, kdf=CHEAP_KDF, seal_peers=False)
    assert plain_values(path)
    assert seal_session_entities(tmp_path / "acct", passphrase=PASSPHRASE)
    assert plain_values(path) == {}
    assert not seal_session_entities(tmp_path / "acct", passphrase=PASSPHRASE)  # done already
    session = encrypted(tmp_path / "acct")
    assert session.peers_sealed and session.auth_key.key == AUTH_KEY
    check_lookups(session)
    session.close()
    plaintext_with_entities(tmp_path / "plain")
    with pytest.raises(InvalidValueError, match="encrypt_session_file"):
        seal_session_entities(tmp_path / "plain", passphrase=PASSPHRASE)


def test_the_format_vectors_of_the_telethon_forms() -> None:
    """docs/format.md's Telethon table, under the index key of its peer index vector."""
    root = Path(__file__).resolve().parents[2]
    vector = (root / "tests/vectors/auth_key_v2_index_key.txt").read_text()
    index_key = re.search(r"^index-key: ([0-9a-f]+)$", vector, re.MULTILINE)
    assert index_key is not None
    tokens = EntityTokens(PeerIndex(bytes.fromhex(index_key[1])))
    table = re.findall(r"^\| (username|phone|name) +\| `([^`]+)` +\| `([^`]+)` +\|$",
                       (root / "docs/format.md").read_text(), re.MULTILINE)  # fmt: skip
    assert [kind for kind, _, _ in table] == ["username", "phone", "name"]
    for kind, value, form in table:
        assert getattr(tokens, kind)(value) == form
    assert tokens.username("alice_bob") == "t" + tokens.index.username("@Alice_Bob")[:31]
    assert re.fullmatch(r"[1-9][0-9]{17}", tokens.phone("15550100"))


async def test_a_client_resolves_from_the_sealed_cache_offline(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    fill(session)
    client = TelegramClient(session, 12345, "0123456789abcdef0123456789abcdef")
    found = types.InputPeerUser(7_000_007, 1007)
    for key in ("@vaultuser0007", "https://t.me/VaultUser0007", "+999555000007", 7_000_007):
        assert await client.get_input_entity(key) == found, key
    assert plain_values(tmp_path / "acct.session") == {}
