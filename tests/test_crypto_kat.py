"""Known-answer tests: vault's AEAD and KDF against the NIST and RFC 9106 vectors shipped in
the ``cryptography-vectors`` package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2.low_level import Type, hash_secret_raw

from vault.crypto.aead import Aead
from vault.crypto.kdf import KdfParams, derive_key
from vault.errors import CorruptedError

vectors = pytest.importorskip("cryptography_vectors")
ROOT = Path(vectors.__file__).parent


def blocks(path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """(section header, entry) pairs of a NIST ``.rsp``-style file; ``FAIL`` becomes a key."""
    section: dict[str, str] = {}
    entry: dict[str, str] = {}
    for raw in [*path.read_text().splitlines(), ""]:
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            name, _, value = line[1:-1].partition(" = ")
            section = {**section, name: value}
        elif " = " in line or line.endswith("="):
            name, _, value = line.partition("=")
            entry[name.strip()] = value.strip()
        elif line == "FAIL":
            entry["FAIL"] = ""
        elif not line and entry:
            yield section, entry
            entry = {}


def gcm_cases(name: str) -> list[dict[str, str]]:
    return [
        entry
        for section, entry in blocks(ROOT / "ciphers" / "AES" / "GCM" / name)
        if section.get("IVlen") == "96" and section.get("Taglen") == "128"
    ]


ENCRYPT = gcm_cases("gcmEncryptExtIV256.rsp")
DECRYPT = gcm_cases("gcmDecrypt256.rsp")


def test_the_vector_files_were_found() -> None:
    assert len(ENCRYPT) > 100
    assert len(DECRYPT) > 100
    assert any("FAIL" in case for case in DECRYPT)


@pytest.mark.parametrize("case", ENCRYPT, ids=lambda c: c["Count"])
def test_aes_256_gcm_encrypt(case: dict[str, str]) -> None:
    key, nonce = bytes.fromhex(case["Key"]), bytes.fromhex(case["IV"])
    sealed = Aead(key)._encrypt_with_nonce(
        nonce, bytes.fromhex(case["PT"]), bytes.fromhex(case["AAD"])
    )
    assert sealed == nonce + bytes.fromhex(case["CT"]) + bytes.fromhex(case["Tag"])


@pytest.mark.parametrize("case", DECRYPT, ids=lambda c: c["Count"])
def test_aes_256_gcm_decrypt(case: dict[str, str]) -> None:
    aead = Aead(bytes.fromhex(case["Key"]))
    sealed = bytes.fromhex(case["IV"] + case["CT"] + case["Tag"])
    aad = bytes.fromhex(case["AAD"])
    if "FAIL" in case:
        with pytest.raises(CorruptedError):
            aead.decrypt(sealed, aad)
    else:
        assert aead.decrypt(sealed, aad) == bytes.fromhex(case["PT"])


# RFC 9106 vectors with a secret or associated data need Argon2 features vault does not use.
ARGON2ID = [
    entry
    for _, entry in blocks(ROOT / "KDF" / "argon2id.txt")
    if "secret" not in entry and "ad" not in entry
]
ARGON2ID_32 = [case for case in ARGON2ID if case["length"] == "32"]


def test_argon2id_vectors_were_found() -> None:
    assert len(ARGON2ID) >= 5
    assert len(ARGON2ID_32) >= 2


def params_of(case: dict[str, str]) -> KdfParams:
    return KdfParams(int(case["iter"]), int(case["memcost"]), int(case["lanes"]), allow_weak=True)


@pytest.mark.parametrize("case", ARGON2ID_32, ids=lambda c: c["COUNT"])
def test_derive_key_is_argon2id(case: dict[str, str]) -> None:
    key = derive_key(bytes.fromhex(case["pass"]), bytes.fromhex(case["salt"]), params_of(case))
    assert key == bytearray.fromhex(case["output"])


@pytest.mark.parametrize("case", ARGON2ID, ids=lambda c: c["COUNT"])
def test_argon2_binding_matches_every_length(case: dict[str, str]) -> None:
    params = params_of(case)
    output = hash_secret_raw(
        bytes.fromhex(case.get("pass", "")),
        bytes.fromhex(case["salt"]),
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=int(case["length"]),
        type=Type.ID,
    )
    assert output == bytes.fromhex(case["output"])
