"""The format vectors in ``tests/vectors/``: each decrypts (or fails) as its ``expect`` says,
through the real public paths, and the generator still produces exactly these files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage, decrypt_session_string
from vault.crypto.envelope import VERSION, Header, Purpose, parse
from vault.crypto.peer_index import PeerIndex
from vault.crypto.sealer import NO_AUTH_KEY
from vault.crypto.strings import parse_encrypted_string
from vault.errors import (
    CorruptedError,
    InvalidSessionString,
    UnsupportedFormatError,
    WrongKeyError,
)
from vault.session_string import decode_session_string, pack_session
from vault.storage import FileStorage

from .encrypted_helpers import DictKeyring, data_key
from .tampering import stored_auth_key
from .vectors import generate

FILES = sorted(generate.HERE.glob("*.txt"))
ERRORS: dict[str, type[Exception]] = {
    "corrupted": CorruptedError,
    "unsupported": UnsupportedFormatError,
    "wrong key": WrongKeyError,
    "invalid": InvalidSessionString,
}


def read(path: Path) -> tuple[dict[str, str], str]:
    head, _, body = path.read_text().partition("\n\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    return fields, body.strip()


def credentials(fields: dict[str, str], backend: DictKeyring) -> dict[str, Any]:
    """The unlocking arguments a vector gives; a keyring entry is put into ``backend``."""
    given: dict[str, Any] = {
        "passphrase": fields.get("passphrase"),
        "key": bytes.fromhex(fields["key"]) if "key" in fields else None,
    }
    if "keyring-service" in fields:
        backend.set_password(
            fields["keyring-service"], fields["keyring-entry"], fields["keyring-secret"]
        )
        given["keyring"] = fields["keyring-service"]
    return given


def header(fields: dict[str, str], body: str) -> Header:
    if fields["purpose"] == "session-string":
        return parse_encrypted_string(body).header
    return parse(bytes.fromhex(body.replace("\n", "")), Purpose.AUTH_KEY).header


async def decrypt(
    fields: dict[str, str], body: str, workdir: Path, unlock: dict[str, Any]
) -> bytes:
    if fields["purpose"] == "session-string":
        plain = decrypt_session_string(body, **unlock)
        return pack_session(decode_session_string(plain))
    inner = FileStorage(fields["session"], workdir=workdir)
    await inner.open()
    await inner.auth_key(bytes.fromhex(body.replace("\n", "")))
    # The session fields stored next to the envelope (a version 2 envelope binds them).
    if "dc-id" in fields:
        await inner.dc_id(int(fields["dc-id"]))
    if "test-mode" in fields:
        await inner.test_mode(fields["test-mode"] == "1")
    if "user-id" in fields:
        await inner.user_id(int(fields["user-id"]))
    await inner.close()
    if "index-key" in fields:
        await store_indexed_peer(fields, workdir)
    storage = EncryptedStorage(FileStorage(fields["session"], workdir=workdir), **unlock)
    await storage.open()
    try:
        auth_key = await storage.auth_key()
        index_key = b""
        if "index-key" in fields:
            await check_lookups(storage, fields)
            index_key = bytes.fromhex(fields["index-key"])
    finally:
        await storage.close()
    # Opening upgraded a version 1 envelope: it now binds the stored fields.
    upgraded = parse(stored_auth_key(workdir / f"{fields['session']}.session"), Purpose.AUTH_KEY)
    assert upgraded.header.version == VERSION == 2
    return (auth_key or NO_AUTH_KEY) + index_key


async def store_indexed_peer(fields: dict[str, str], workdir: Path) -> None:
    """Store, as a foreign writer would, the vector's tokens in a peer row of the session."""
    inner = FileStorage(fields["session"], workdir=workdir)
    await inner.open()
    token_row = (42, 4242, "user", fields["index-username-token"], fields["index-phone-token"])
    await inner.update_peers([token_row])
    await inner.close()


async def check_lookups(storage: EncryptedStorage, fields: dict[str, str]) -> None:
    """The index key sealed in the vector finds the peer stored under the vector's tokens, by
    the value given and by the forms a client may look it up by; a wrong value finds nothing."""
    assert storage.peers_sealed
    username, phone = fields["index-username"], fields["index-phone"]
    for form in (username, username.lower(), username.lstrip("@").upper()):
        assert (await storage.get_peer_by_username(form)).access_hash == 4242
    for form in (phone, phone.replace(" ", "").lstrip("+")):
        assert (await storage.get_peer_by_phone_number(form)).access_hash == 4242
    with pytest.raises(KeyError):
        await storage.get_peer_by_username(username + "x")
    assert PeerIndex(bytes.fromhex(fields["index-key"])).phone(phone) == fields["index-phone-token"]


def test_vectors_are_mostly_negative() -> None:
    expects = [read(path)[0]["expect"] for path in FILES]
    assert len(expects) >= 30
    assert expects.count("success") * 4 < len(expects)
    assert set(expects) == {"success", *ERRORS}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
async def test_vector(path: Path, tmp_path: Path, dict_keyring: DictKeyring) -> None:
    fields, body = read(path)
    unlock = credentials(fields, dict_keyring)
    if fields["expect"] == "success":
        assert await decrypt(fields, body, tmp_path, unlock) == bytes.fromhex(fields["plaintext"])
        # The intermediate value: the data key the slot unwraps.
        assert data_key(header(fields, body), **unlock) == bytes.fromhex(fields["data-key"])
        return
    error = ERRORS[fields["expect"]]
    with pytest.raises(error) as caught:
        await decrypt(fields, body, tmp_path, unlock)
    if fields["expect"] == "corrupted":
        assert not isinstance(caught.value, UnsupportedFormatError)
    assert fields.get("passphrase", "\0") not in str(caught.value)


def test_generator_reproduces_every_file() -> None:
    rendered = {f"{v.name}.txt": v.render() for v in generate.vectors()}
    assert sorted(rendered) == [path.name for path in FILES]
    for path in FILES:
        assert path.read_text() == rendered[path.name], path.name
