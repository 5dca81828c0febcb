"""EncryptedSession with the real Telethon package: a client keeps it, data survives a
reopen, entities and update state pass through, the auth key never reaches the file."""

from __future__ import annotations

import datetime
import os
import sqlite3
import stat
from pathlib import Path

import pytest

pytest.importorskip("telethon")

from telethon import TelegramClient
from telethon.crypto import AuthKey
from telethon.sessions import MemorySession, SQLiteSession
from telethon.tl import types

from vault.crypto import CHEAP_KDF, KdfBudget, KdfParams
from vault.crypto.envelope import is_envelope
from vault.errors import CorruptedError, KdfBudgetError, PlaintextSessionError, WrongKeyError
from vault.telethon import EncryptedSession

from .helpers import AUTH_KEY, DC, PASSPHRASE, digest, encrypted, files_holding, logged_in

USER = types.User(
    id=5_000_000_001, access_hash=0x1234_5678, username="Vault_User", phone="15550001",
    first_name="Vault",
)  # fmt: skip
CHANNEL = types.Channel(
    id=1_000_000_004, title="vault channel", photo=types.ChatPhotoEmpty(),
    date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    access_hash=-0x7766_5544, username="vault_channel",
)  # fmt: skip
CHAT = types.Chat(
    id=4_000_003, title="vault group", photo=types.ChatPhotoEmpty(), participants_count=3,
    date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), version=1,
)  # fmt: skip


def test_the_issue_snippet_client_keeps_the_session(tmp_path: Path) -> None:
    # As the docs show it: the default KDF, the passphrase from the environment.
    os.environ["VAULT_TEST_PASSPHRASE"] = PASSPHRASE
    name = str(tmp_path / "my_account")
    session = EncryptedSession(SQLiteSession(name), passphrase=os.environ["VAULT_TEST_PASSPHRASE"])
    client = TelegramClient(session, 12345, "0123456789abcdef0123456789abcdef")
    assert client.session is session
    logged_in(client.session)
    session.close()
    again = EncryptedSession(SQLiteSession(name), passphrase=PASSPHRASE)
    assert again.auth_key == AuthKey(AUTH_KEY)


def test_auth_key_dc_address_port_survive_reopen(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    session.takeout_id = 99
    session.save()
    session.close()
    again = encrypted(tmp_path / "acct")
    assert again.auth_key.key == AUTH_KEY
    assert (again.dc_id, again.server_address, again.port) == DC
    assert again.takeout_id == 99
    client = TelegramClient(again, 12345, "0123456789abcdef0123456789abcdef")
    assert client.session is again


def test_file_keeps_telethons_layout_with_an_envelope(tmp_path: Path) -> None:
    logged_in(encrypted(tmp_path / "acct")).close()
    path = tmp_path / "acct.session"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files_holding(path, AUTH_KEY) == []
    # Telethon's own class still reads the file; what it finds as the key is an envelope.
    plain = SQLiteSession(str(tmp_path / "acct"))
    assert (plain.dc_id, plain.server_address, plain.port) == DC
    assert is_envelope(plain.auth_key.key)
    plain.close()


def test_a_new_key_never_reaches_the_file_or_its_journal(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    second = os.urandom(256)
    # A DC migration as Telethon does it: set_dc, drop the key, then the new one.
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = None
    session.auth_key = AuthKey(second)
    path = tmp_path / "acct.session"
    # Mid-transaction (before save) the rollback journal exists; neither holds a key.
    assert files_holding(path, second) == []
    session.save()
    session.close()
    assert files_holding(path, second) == files_holding(path, AUTH_KEY) == []
    assert encrypted(tmp_path / "acct").auth_key.key == second


def test_entities_by_id_username_and_phone_after_reopen(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    session.process_entities(
        types.contacts.ResolvedPeer(peer=types.PeerUser(USER.id), chats=[CHANNEL, CHAT],
                                    users=[USER])
    )  # fmt: skip
    session.save()
    session.close()
    again = encrypted(tmp_path / "acct")
    user = types.InputPeerUser(USER.id, USER.access_hash)
    assert again.get_input_entity(USER.id) == user
    assert again.get_input_entity("vault_user") == user
    assert again.get_input_entity("@Vault_User") == user
    assert again.get_input_entity("+15550001") == user
    channel = types.InputPeerChannel(CHANNEL.id, CHANNEL.access_hash)
    assert again.get_input_entity(-1_001_000_000_004) == channel
    assert again.get_input_entity("vault_channel") == channel
    assert again.get_input_entity(-CHAT.id) == types.InputPeerChat(CHAT.id)
    with pytest.raises(ValueError, match="Could not find"):
        again.get_input_entity("nobody_here")


def test_update_state_round_trip(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    date = datetime.datetime(2025, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    session.set_update_state(0, types.updates.State(pts=11, qts=22, date=date, seq=33,
                                                    unread_count=0))  # fmt: skip
    session.set_update_state(CHANNEL.id, types.updates.State(44, 0, date, 0, 0))
    session.save()
    session.close()
    again = encrypted(tmp_path / "acct")
    state = again.get_update_state(0)
    assert (state.pts, state.qts, state.date, state.seq) == (11, 22, date, 33)
    assert {entity: s.pts for entity, s in again.get_update_states()} == {0: 11, CHANNEL.id: 44}
    assert again.get_update_state(123) is None


def test_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    logged_in(encrypted(tmp_path / "acct")).close()
    path = tmp_path / "acct.session"
    before = digest(path)
    with pytest.raises(WrongKeyError):
        encrypted(tmp_path / "acct", passphrase="not it")
    assert digest(path) == before


def _set_stored_key(path: Path, value: bytes) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sessions SET auth_key = ?", (value,))
    conn.close()


def _stored_key(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        value: bytes = conn.execute("SELECT auth_key FROM sessions").fetchone()[0]
    conn.close()
    return value


@pytest.mark.parametrize("offset", [5, 60, -40, -1])
def test_a_modified_envelope_is_corrupted(tmp_path: Path, offset: int) -> None:
    logged_in(encrypted(tmp_path / "acct")).close()
    path = tmp_path / "acct.session"
    envelope = bytearray(_stored_key(path))
    envelope[offset] ^= 0x01
    _set_stored_key(path, bytes(envelope))
    with pytest.raises(CorruptedError):
        encrypted(tmp_path / "acct")


def test_an_envelope_from_another_session_is_refused_unless_rebind(tmp_path: Path) -> None:
    logged_in(encrypted(tmp_path / "one")).close()
    logged_in(encrypted(tmp_path / "two"), os.urandom(256)).close()
    _set_stored_key(tmp_path / "two.session", _stored_key(tmp_path / "one.session"))
    with pytest.raises(CorruptedError, match="another session"):
        encrypted(tmp_path / "two")
    # A deliberate rename: rebind once, then it opens as itself.
    rebound = EncryptedSession(
        SQLiteSession(str(tmp_path / "two")), passphrase=PASSPHRASE, rebind=True
    )
    assert rebound.auth_key.key == AUTH_KEY
    rebound.close()
    assert encrypted(tmp_path / "two").auth_key.key == AUTH_KEY


def test_a_plaintext_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    logged_in(SQLiteSession(str(tmp_path / "acct"))).close()
    path = tmp_path / "acct.session"
    before = digest(path)
    with pytest.raises(PlaintextSessionError, match="encrypt_session_file"):
        encrypted(tmp_path / "acct")
    assert digest(path) == before


def test_a_plaintext_key_written_behind_its_back_is_refused(tmp_path: Path) -> None:
    session = logged_in(encrypted(tmp_path / "acct"))
    session.inner.auth_key = AuthKey(os.urandom(256))
    with pytest.raises(PlaintextSessionError, match="behind"):
        _ = session.auth_key


def test_a_plaintext_key_swapped_into_the_file_is_refused(tmp_path: Path) -> None:
    # The downgrade attack: an encrypted file gets a plaintext key of the attacker's.
    logged_in(encrypted(tmp_path / "acct")).close()
    _set_stored_key(tmp_path / "acct.session", os.urandom(256))
    with pytest.raises(PlaintextSessionError):
        encrypted(tmp_path / "acct")


def test_memory_session_holds_only_the_envelope(tmp_path: Path) -> None:
    inner = MemorySession()
    session = logged_in(EncryptedSession(inner, key=b"k" * 32, kdf=CHEAP_KDF))
    assert session.auth_key.key == AUTH_KEY
    assert is_envelope(inner.auth_key.key)
    assert TelegramClient(session, 1, "0" * 32).session is session


def test_raw_key_and_log_out_delete(tmp_path: Path) -> None:
    raw = os.urandom(32)
    logged_in(encrypted(tmp_path / "acct", key=raw)).close()
    session = encrypted(tmp_path / "acct", key=raw)
    assert [slot.kind.name for slot in session.key_slots] == ["RAW_KEY"]
    assert session.delete() is True
    assert not (tmp_path / "acct.session").exists()


def test_refusals_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="passphrase"):
        EncryptedSession(MemorySession())
    with pytest.raises(ValueError, match="store_tmp_auth_key_on_disk"):
        EncryptedSession(
            SQLiteSession(str(tmp_path / "t"), store_tmp_auth_key_on_disk=True),
            passphrase=PASSPHRASE,
        )
    with pytest.raises(TypeError, match=r"telethon\.sessions\.Session"):
        EncryptedSession(object(), passphrase=PASSPHRASE)
    session = EncryptedSession(MemorySession(), passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    with pytest.raises(TypeError, match="only once"):
        EncryptedSession(session, passphrase=PASSPHRASE)
    assert PASSPHRASE not in repr(session)


def test_the_same_key_set_again_is_not_sealed_again(tmp_path: Path) -> None:
    # Telethon assigns the sender's key to the session on every connect.
    session = logged_in(encrypted(tmp_path / "acct"))
    envelope = session.inner.auth_key.key
    session.auth_key = AuthKey(AUTH_KEY)
    assert session.inner.auth_key.key == envelope
    session.auth_key = AuthKey(os.urandom(256))
    assert session.inner.auth_key.key != envelope


def test_kdf_budget_as_for_encrypted_storage(tmp_path: Path) -> None:
    costly = KdfParams(time_cost=2, memory_cost=8, parallelism=1, allow_weak=True)  # work 16
    session = EncryptedSession(SQLiteSession(str(tmp_path / "acct")), passphrase=PASSPHRASE,
                               kdf=costly)  # fmt: skip
    logged_in(session).close()
    tight = KdfBudget.admitting(CHEAP_KDF)  # work 8: the stored slot is skipped, no KDF runs
    with pytest.raises(KdfBudgetError, match="kdf_budget"):
        encrypted(tmp_path / "acct", passphrase=PASSPHRASE, kdf_budget=tight)
    opened = encrypted(tmp_path / "acct", passphrase=PASSPHRASE, kdf_budget=KdfBudget(8, 16))
    assert opened.auth_key.key == AUTH_KEY
    with pytest.raises(ValueError, match="kdf_budget"):
        EncryptedSession(MemorySession(), passphrase=PASSPHRASE, kdf=costly, kdf_budget=tight)
