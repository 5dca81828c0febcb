"""The sealed entity cache of EncryptedSession (issues 14 and 15): usernames, phone numbers and
names reach the wrapped Telethon session only as tokens, and every lookup Telethon makes by
them still finds the entity, on SQLiteSession and MemorySession, through reopen, passphrase
change, data-key rotation and slot removal, and after encrypting a plaintext file."""

from __future__ import annotations

import os
import re
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

from .entities import (
    check_lookups,
    fill,
    plain_values,
    plaintext_with_entities,
    stored_rows,
    user,
)
from .helpers import AUTH_KEY, PASSPHRASE, encrypted, logged_in

RAW_KEY = os.urandom(32)


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
