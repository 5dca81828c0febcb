"""The Pyrogram session string codec: round trips, old formats, and clear rejections."""

from __future__ import annotations

import base64
import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.errors import InvalidSessionString
from vault.session_string import (
    ENCRYPTED_PREFIX,
    SessionData,
    decode_session_string,
    encode_session_string,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


KEY = bytes(range(256))
DATA = SessionData(
    dc_id=2, api_id=12345, test_mode=False, auth_key=KEY, user_id=5_000_000_000, is_bot=True
)


def test_current_format_is_pyrogram_struct_in_urlsafe_base64() -> None:
    text = encode_session_string(DATA)
    assert len(text) == 362
    assert "=" not in text
    expected = struct.pack(">BI?256sQ?", 2, 12345, False, KEY, 5_000_000_000, True)
    assert base64.urlsafe_b64decode(text + "==") == expected
    assert decode_session_string(text) == DATA


@given(
    dc_id=st.integers(1, 255),
    api_id=st.integers(0, 2**32 - 1),
    test_mode=st.booleans(),
    auth_key=st.binary(min_size=256, max_size=256),
    user_id=st.integers(0, 2**64 - 1),
    is_bot=st.booleans(),
)
def test_round_trip_any_session(
    dc_id: int, api_id: int, test_mode: bool, auth_key: bytes, user_id: int, is_bot: bool
) -> None:
    data = SessionData(dc_id, api_id, test_mode, auth_key, user_id, is_bot)
    assert decode_session_string(encode_session_string(data)) == data


@pytest.mark.parametrize(
    ("fmt", "length", "user_id"), [(">B?256sI?", 351, 2**31), (">B?256sQ?", 356, 2**40)]
)
def test_old_formats_decode_without_api_id(fmt: str, length: int, user_id: int) -> None:
    text = b64(struct.pack(fmt, 5, True, KEY, user_id, False))
    assert len(text) == length
    data = decode_session_string(text)
    assert (data.dc_id, data.api_id, data.test_mode, data.user_id) == (5, None, True, user_id)
    assert data.auth_key == KEY


def test_surrounding_whitespace_is_ignored() -> None:
    assert decode_session_string("\n " + encode_session_string(DATA) + "\r\n") == DATA


def _rejected(text: object) -> str:
    with pytest.raises(InvalidSessionString) as info:
        decode_session_string(text)  # type: ignore[arg-type]
    message = str(info.value)
    assert "expected" in message or "encrypted" in message
    if isinstance(text, str) and text:
        assert text.strip() not in message
    return message


def test_wrong_length_is_rejected() -> None:
    good = encode_session_string(DATA)
    assert "361 characters" in _rejected(good[:-1])
    assert "363 characters" in _rejected(good + "A")
    _rejected("")


def test_characters_outside_urlsafe_alphabet_are_rejected() -> None:
    good = encode_session_string(DATA)
    assert "alphabet" in _rejected(good[:100] + "+" + good[101:])
    assert "alphabet" in _rejected(good[:100] + "/" + good[101:])


def test_telethon_string_gets_a_hint() -> None:
    telethon = (
        "1"
        + base64.urlsafe_b64encode(
            struct.pack(">B4sH256s", 2, bytes([149, 154, 167, 51]), 443, KEY)
        ).decode()
    )
    assert len(telethon) == 353
    assert "Telethon" in _rejected(telethon)


def test_encrypted_string_is_not_taken_for_a_plain_one() -> None:
    assert "encrypted" in _rejected(ENCRYPTED_PREFIX + "A" * 400)


def test_non_string_is_rejected() -> None:
    assert "bytes" in _rejected(encode_session_string(DATA).encode())


def test_no_data_center_is_rejected() -> None:
    _rejected(b64(struct.pack(">BI?256sQ?", 0, 1, False, KEY, 1, False)))


@pytest.mark.parametrize(
    "data",
    [
        SessionData(2, 1, False, KEY[:255], 1, False),
        SessionData(256, 1, False, KEY, 1, False),
        SessionData(2, 2**32, False, KEY, 1, False),
        SessionData(2, 1, False, KEY, -1, False),
    ],
)
def test_fields_that_do_not_fit_are_refused(data: SessionData) -> None:
    with pytest.raises(InvalidSessionString, match="cannot make a session string"):
        encode_session_string(data)


def test_repr_hides_the_auth_key() -> None:
    data = SessionData(2, 1, False, os.urandom(256), 1, False)
    assert data.auth_key.hex() not in repr(data)
    assert "auth_key" not in repr(data)
