"""The command line and the sealed peer cache: `encrypt` seals the cache of a plaintext file,
`seal-peers` that of an encrypted one, and `info` tells which; no plain username or phone
number is left in the file, its WAL or SHM, and lookups keep working."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage

from .cli_helpers import (
    CHEAP,
    CLIENT_FIXTURES,
    DATA,
    client_fixture,
    ext4,
    json_info,
    kill_moments,
    killed_run,
    leftovers,
    run_cli,
    timed_run,
)
from .tampering import leave_stale_copy

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def all_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def known_values(stem: str) -> list[str]:
    meta = json.loads((DATA / f"{stem}.json").read_text())
    values = [v for row in meta["peers"] for v in row[3:] if isinstance(v, str)]
    return values + [name for _, name in meta.get("usernames") or []]


async def lookups(
    path: Path, rows: list[list[Any]], *, exact: bool = False, **unlock: Any
) -> list[int]:
    """The peer ids found by each row's username (upper-cased, with @) and phone (with +), or
    with ``exact`` by the values as stored (a plain cache finds nothing else)."""
    storage = EncryptedStorage(
        FileStorage(path.name.removesuffix(".session"), workdir=path.parent), **unlock
    )
    await storage.open()
    found = []
    try:
        for peer_id, _, _, username, phone in rows:
            if username:
                peer = await storage.get_peer_by_username(
                    username if exact else "@" + username.upper()
                )
                found.append(await _id_of(storage, peer, peer_id))
            if phone:
                peer = await storage.get_peer_by_phone_number(phone if exact else "+" + phone)
                found.append(await _id_of(storage, peer, peer_id))
    finally:
        await storage.close()
    return found


async def _id_of(storage: EncryptedStorage, peer: Any, expected: int) -> int:
    return expected if peer == await storage.get_peer_by_id(expected) else 0


def info_json(path: Path) -> dict[str, Any]:
    return json_info(run_cli("info", path, "--json"))


@pytest.mark.parametrize("stem", CLIENT_FIXTURES)
def test_encrypt_seals_the_cache_of_real_client_files(
    stem: str, tmp_path: Path, pwfile: Path
) -> None:
    fixture = client_fixture(stem, tmp_path)
    values = known_values(stem)
    before = all_bytes(fixture.path)
    assert values and all(v.encode() in before for v in values)  # the scan can fail
    assert info_json(fixture.path)["peers_sealed"] is False

    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    after = all_bytes(fixture.path)
    assert [v for v in values if v.encode() in after or v.upper().encode() in after] == []
    assert leftovers(tmp_path) == []
    facts = info_json(fixture.path)
    assert facts["peers_sealed"] is True and facts["peers"] == len(fixture.peers)
    assert "peer cache:     sealed" in run_cli("info", fixture.path).stdout

    # The fixtures' usernames are older than the cache's TTL, so only phones are looked up;
    # the usernames are checked as stored tokens.
    rows = [[*row[:3], None, row[4]] for row in fixture.peers if row[4]]
    assert rows
    expected = [row[0] for row in rows]
    assert asyncio.run(lookups(fixture.path, rows, passphrase=PASSPHRASE)) == expected
    tokens = asyncio.run(username_tokens(fixture.path, values))
    stored = all_bytes(fixture.path)
    assert [v for v, token in tokens.items() if token.encode() not in stored] == []


async def username_tokens(path: Path, values: list[str]) -> dict[str, str]:
    storage = EncryptedStorage(
        FileStorage(path.name.removesuffix(".session"), workdir=path.parent), passphrase=PASSPHRASE
    )
    await storage.open()
    try:
        index = storage.peer_index
        assert index is not None
        return {v: index.username(v) for v in values if not v.isdigit()}
    finally:
        await storage.close()


async def make_unsealed(path: Path, count: int) -> list[list[Any]]:
    """An encrypted session made without sealing, with ``count`` peers (as before sealing)."""
    storage = EncryptedStorage(
        FileStorage(path.stem, workdir=path.parent),
        passphrase=PASSPHRASE,
        kdf=CHEAP_KDF,
        seal_peers=False,
    )
    await storage.open()
    rows: list[list[Any]] = [
        [i, i * 5, "user", f"sealme_user{i:04d}", f"7770001{i:04d}"] for i in range(1, count + 1)
    ]
    try:
        await storage.auth_key(bytes(range(256)))
        await storage.update_peers([tuple(row) for row in rows])  # type: ignore[misc]
        await storage.update_usernames([(i, f"sealme_alias{i:04d}") for i in range(1, count + 1)])
    finally:
        await storage.close()
    return rows


def dates(path: Path) -> list[tuple[int, int]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, last_update_on FROM peers ORDER BY id").fetchall()
    finally:
        conn.close()


def test_seal_peers_seals_an_encrypted_session(tmp_path: Path, pwfile: Path) -> None:
    path = tmp_path / "old.session"
    rows = asyncio.run(make_unsealed(path, 500))
    assert b"sealme_" in all_bytes(path) and b"7770001" in all_bytes(path)
    assert info_json(path)["peers_sealed"] is False
    old_dates = dates(path)

    result = run_cli("seal-peers", path, "--passphrase-file", pwfile)
    assert result.returncode == 0, result.stderr
    assert f"sealed the peer cache of {path}" in result.stdout
    data = all_bytes(path)
    assert b"sealme_" not in data.lower() and b"7770001" not in data
    assert info_json(path)["peers_sealed"] is True
    assert dates(path) == old_dates  # expiry unchanged
    assert leftovers(tmp_path) == []
    found = asyncio.run(lookups(path, rows[:20] + rows[-20:], passphrase=PASSPHRASE))
    assert found == [row[0] for row in rows[:20] + rows[-20:] for _ in (0, 1)]

    again = run_cli("seal-peers", path, "--passphrase-file", pwfile)
    assert again.returncode == 0 and "already sealed" in again.stdout


def test_seal_peers_with_a_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "old.session"
    asyncio.run(make_unsealed(path, 10))
    before = path.read_bytes()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    result = run_cli("seal-peers", path, "--passphrase-file", wrong)
    assert result.returncode == 3, result.stderr
    assert path.read_bytes() == before


def test_sigkill_during_seal_peers_leaves_old_or_new(tmp_path: Path, pwfile: Path) -> None:
    """Killed at moments spread over its run, seal-peers leaves the plain cache or the sealed
    one, whole (every peer found either way); the next run finishes and leaves nothing plain."""
    path = tmp_path / "old.session"
    rows = asyncio.run(make_unsealed(path, 2000))
    pristine = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("old.")}
    command = ["seal-peers", str(path), "--passphrase-file", str(pwfile)]
    duration = timed_run(*command)
    sample = rows[:3] + rows[-3:]
    outcomes: Counter[str] = Counter()
    for delay in kill_moments(duration, 8, seed=14):
        for p in tmp_path.iterdir():
            if p.name.startswith("old."):
                p.unlink()
        for name, data in pristine.items():
            (tmp_path / name).write_bytes(data)
        killed_run(*command, delay=delay)
        sealed = info_json(path)["peers_sealed"]
        outcomes["sealed" if sealed else "plain"] += 1
        assert (b"sealme_" in all_bytes(path)) is not sealed
        expected = [row[0] for row in sample for _ in (0, 1)]
        found = lookups(path, sample, exact=not sealed, passphrase=PASSPHRASE)
        assert asyncio.run(found) == expected
        again = run_cli(*command)
        assert again.returncode == 0, again.stderr
        assert b"sealme_" not in all_bytes(path) and leftovers(tmp_path) == []
    assert sum(outcomes.values()) == 8


def test_passwd_on_a_session_not_logged_in(tmp_path: Path, pwfile: Path) -> None:
    """An encrypted session without an auth key still holds an envelope (its index key)."""

    async def make() -> None:
        storage = EncryptedStorage(
            FileStorage("fresh", workdir=tmp_path), passphrase=PASSPHRASE, kdf=CHEAP_KDF
        )
        await storage.open()
        await storage.update_peers([(1, 2, "user", "fresh_user", None)])
        await storage.close()

    asyncio.run(make())
    path = tmp_path / "fresh.session"
    new = tmp_path / "new.txt"
    new.write_text("a new passphrase for it\n")
    result = run_cli(
        "passwd", path, "--passphrase-file", pwfile, "--new-passphrase-file", new, *CHEAP
    )
    assert result.returncode == 0, result.stderr
    assert info_json(path)["peers_sealed"] is True
    found = lookups(
        path, [[1, 2, "user", "FRESH_USER", None]], passphrase="a new passphrase for it"
    )
    assert asyncio.run(found) == [1]


def test_seal_peers_leaves_no_plain_value_on_the_disk(tmp_path: Path, pwfile: Path) -> None:
    """The cache is sealed in the file itself: the plain values do not stay in the blocks of a
    replaced file (checked on a real ext4 file system, byte by byte)."""
    made = tmp_path / "made" / "old.session"
    made.parent.mkdir()
    rows = asyncio.run(make_unsealed(made, 300))
    with ext4(tmp_path) as (image, mount):
        path = mount / made.name
        shutil.copyfile(made, path)  # one file written once: no WAL of it left in free blocks
        os.sync()
        assert b"sealme_alias" in image.read_bytes()  # the scan can fail
        result = run_cli("seal-peers", path, "--passphrase-file", pwfile)
        assert result.returncode == 0, result.stderr
        assert asyncio.run(lookups(path, rows[:3], passphrase=PASSPHRASE)) == [1, 1, 2, 2, 3, 3]
    raw = image.read_bytes()
    assert (raw.count(b"sealme_"), raw.count(b"7770001")) == (0, 0)


def test_stale_copies_in_free_pages_are_zeroed(tmp_path: Path, pwfile: Path) -> None:
    """Free pages that a client's SQLite left unzeroed (secure_delete off) hold old peer rows:
    encrypt and seal-peers overwrite them with the change."""
    stem = CLIENT_FIXTURES[0]
    fixture = client_fixture(stem, tmp_path)
    old = tmp_path / "old.session"
    asyncio.run(make_unsealed(old, 50))
    cases = [
        (fixture.path, ["encrypt", *CHEAP], known_values(stem)),
        (old, ["seal-peers"], ["sealme_user0001", "sealme_alias0050", "77700010002"]),
    ]
    for path, command, values in cases:
        leave_stale_copy(path, "peers")
        leave_stale_copy(path, "usernames")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            stale = conn.execute("PRAGMA freelist_count").fetchone()[0]
        assert stale and all(v.encode() in path.read_bytes() for v in values), command
        result = run_cli(command[0], path, "--passphrase-file", pwfile, *command[1:])
        assert result.returncode == 0, result.stderr
        data = all_bytes(path)
        assert [v for v in values if v.encode() in data or v.upper().encode() in data] == []


def test_decrypt_empties_the_tokens(tmp_path: Path, pwfile: Path) -> None:
    """A decrypted session keeps its peers' ids and access hashes, but not the tokens, which
    find nothing without the index key; the client stores plain values again as it meets
    the peers."""
    path = tmp_path / "old.session"
    rows = asyncio.run(make_unsealed(path, 20))
    assert run_cli("seal-peers", path, "--passphrase-file", pwfile).returncode == 0
    result = run_cli("decrypt", path, "--passphrase-file", pwfile, "--confirm-plaintext")
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(path)
    try:
        peers = conn.execute("SELECT id, access_hash, username, phone_number FROM peers").fetchall()
        usernames = conn.execute("SELECT COUNT(*) FROM usernames").fetchone()[0]
    finally:
        conn.close()
    assert sorted(peers) == [(row[0], row[1], None, None) for row in rows]
    assert usernames == 0
    assert info_json(path)["peers_sealed"] is False
