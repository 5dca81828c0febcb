"""Encrypted Telethon strings (``vault1-telethon:``) and resuming a client from one."""

from __future__ import annotations

import base64
import os

import pytest

pytest.importorskip("telethon")

from telethon import TelegramClient
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from vault.crypto import CHEAP_KDF
from vault.errors import CorruptedError, InvalidSessionString, PlaintextSessionError, WrongKeyError
from vault.telethon import (
    EncryptedSession,
    decrypt_telethon_string,
    encrypt_telethon_string,
    is_encrypted_telethon_string,
)

from .helpers import AUTH_KEY, DC, PASSPHRASE, logged_in, plaintext_string

RAW_KEY = os.urandom(32)


@pytest.fixture(scope="module")
def sealed() -> str:
    return encrypt_telethon_string(plaintext_string(), passphrase=PASSPHRASE, kdf=CHEAP_KDF)


def test_round_trip_gives_telethons_own_string(sealed: str) -> None:
    assert is_encrypted_telethon_string(sealed)
    assert AUTH_KEY not in base64.urlsafe_b64decode(sealed.split(":", 1)[1] + "==")
    assert decrypt_telethon_string(sealed, passphrase=PASSPHRASE) == plaintext_string()
    back = StringSession(decrypt_telethon_string(sealed, passphrase=PASSPHRASE))
    assert (back.dc_id, back.server_address, back.port, back.auth_key) == (*DC, AuthKey(AUTH_KEY))


def test_ipv6_address(sealed: str) -> None:
    inner = StringSession()
    inner.set_dc(5, "2001:b28:f23f:f005::a", 443)
    inner.auth_key = AuthKey(AUTH_KEY)
    text = encrypt_telethon_string(inner.save(), key=RAW_KEY)
    assert decrypt_telethon_string(text, key=RAW_KEY) == inner.save()


def test_a_client_resumes_from_the_encrypted_string(sealed: str) -> None:
    session = EncryptedSession.from_string(sealed, passphrase=PASSPHRASE)
    client = TelegramClient(session, 12345, "0123456789abcdef0123456789abcdef")
    assert client.session is session
    assert client.session.auth_key.key == AUTH_KEY
    assert (session.dc_id, session.server_address, session.port) == DC
    # save() gives the string back encrypted (same slots, so the same passphrase opens it).
    updated = logged_in(session, os.urandom(256)).save()
    assert is_encrypted_telethon_string(updated)
    again = EncryptedSession.from_string(updated, passphrase=PASSPHRASE)
    assert again.auth_key == session.auth_key
    assert again.export_plain_session_string() == session.export_plain_session_string()


def test_a_file_session_exports_an_encrypted_string(tmp_path: object, sealed: str) -> None:
    session = logged_in(
        EncryptedSession(StringSession(), passphrase=PASSPHRASE, key=RAW_KEY, kdf=CHEAP_KDF)
    )
    text = session.export_session_string()
    assert decrypt_telethon_string(text, key=RAW_KEY) == plaintext_string()


def test_wrong_passphrase(sealed: str) -> None:
    with pytest.raises(WrongKeyError):
        EncryptedSession.from_string(sealed, passphrase="not it")


@pytest.mark.parametrize("position", [20, 100, -30, -2])
def test_tampered_string(sealed: str, position: int) -> None:
    chars = list(sealed)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(CorruptedError):
        decrypt_telethon_string("".join(chars), passphrase=PASSPHRASE)


def test_plain_strings_are_refused(sealed: str) -> None:
    with pytest.raises(PlaintextSessionError, match="encrypt_telethon_string"):
        EncryptedSession(StringSession(plaintext_string()), passphrase=PASSPHRASE)
    with pytest.raises(InvalidSessionString):
        EncryptedSession.from_string(plaintext_string(), passphrase=PASSPHRASE)
    with pytest.raises(InvalidSessionString):
        encrypt_telethon_string(sealed, passphrase=PASSPHRASE)
