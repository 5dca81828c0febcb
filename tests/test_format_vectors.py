"""The format vectors in ``tests/vectors/``: each decrypts (or fails) as its ``expect`` says,
through the real public paths, and the generator still produces exactly these files."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault import EncryptedStorage, decrypt_session_string
from vault.errors import (
    CorruptedError,
    InvalidSessionString,
    UnsupportedFormatError,
    WrongKeyError,
)
from vault.session_string import decode_session_string, pack_session
from vault.storage import FileStorage

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


async def decrypt(fields: dict[str, str], body: str, workdir: Path) -> bytes:
    passphrase = fields.get("passphrase")
    key = bytes.fromhex(fields["key"]) if "key" in fields else None
    if fields["purpose"] == "session-string":
        plain = decrypt_session_string(body, passphrase=passphrase, key=key)
        return pack_session(decode_session_string(plain))
    inner = FileStorage(fields["session"], workdir=workdir)
    await inner.open()
    await inner.auth_key(bytes.fromhex(body.replace("\n", "")))
    await inner.close()
    storage = EncryptedStorage(
        FileStorage(fields["session"], workdir=workdir), passphrase=passphrase, key=key
    )
    await storage.open()
    try:
        auth_key = await storage.auth_key()
    finally:
        await storage.close()
    assert auth_key is not None
    return auth_key


def test_vectors_are_mostly_negative() -> None:
    expects = [read(path)[0]["expect"] for path in FILES]
    assert len(expects) >= 30
    assert expects.count("success") * 4 < len(expects)
    assert set(expects) == {"success", *ERRORS}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
async def test_vector(path: Path, tmp_path: Path) -> None:
    fields, body = read(path)
    if fields["expect"] == "success":
        assert await decrypt(fields, body, tmp_path) == bytes.fromhex(fields["plaintext"])
        return
    error = ERRORS[fields["expect"]]
    with pytest.raises(error) as caught:
        await decrypt(fields, body, tmp_path)
    if fields["expect"] == "corrupted":
        assert not isinstance(caught.value, UnsupportedFormatError)
    assert fields.get("passphrase", "\0") not in str(caught.value)


def test_generator_reproduces_every_file() -> None:
    rendered = {f"{v.name}.txt": v.render() for v in generate.vectors()}
    assert sorted(rendered) == [path.name for path in FILES]
    for path in FILES:
        assert path.read_text() == rendered[path.name], path.name
