"""``session-vault`` and the sealed entity cache of Telethon files (issue 15): ``encrypt``
seals a plaintext file's usernames, phone numbers and names with its auth key, ``seal-peers``
seals an encrypted file's plain cache, every slot command, ``--rebind`` and ``convert`` keep
the index key, and ``info`` tells which. Lookups are checked through ``EncryptedSession`` and
a real (offline) ``TelegramClient``; the files, WAL and free pages are scanned byte by byte."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("telethon")

from telethon import TelegramClient
from telethon.sessions import SQLiteSession
from telethon.tl import types

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.storage import FileStorage
from vault.telethon import encrypt_session_file

from ..cli_helpers import (
    CHEAP,
    cli_env,
    error_lines,
    json_info,
    leftovers,
    run_cli,
)
from .entities import check_lookups, fill, plain_values, plaintext_with_entities, stored_rows
from .helpers import AUTH_KEY, PASSPHRASE, encrypted, files_holding

NEW_PASSPHRASE = "the new telethon passphrase"
RAW_KEY = os.urandom(32)
KILLS = 12
API = (12345, "0123456789abcdef0123456789abcdef")
SEALED_LINE = "peer cache:     sealed (usernames, phone numbers and names stored as tokens)"
PLAIN_LINE = "peer cache:     plain (usernames, phone numbers and names readable)"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "raw.key").write_bytes(RAW_KEY)
    return cli_env(TG_PASS=PASSPHRASE, TG_NEW=NEW_PASSPHRASE)


def _cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env)


def _ok(env: dict[str, str], *args: str | Path) -> str:
    done = _cli(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _client_finds(path: Path, **unlock: Any) -> None:
    """A TelegramClient on the encrypted file resolves by username, link and phone, offline."""

    async def resolve() -> None:
        session = encrypted(path, **unlock)
        client = TelegramClient(session, *API)
        try:
            found = types.InputPeerUser(7_000_007, 1007)
            for key in ("@vaultuser0007", "https://t.me/VaultUser0007", "+999555000007"):
                assert await client.get_input_entity(key) == found, key
        finally:
            session.close()

    asyncio.run(resolve())


def _finds_everything(path: Path, **unlock: Any) -> None:
    session = encrypted(path, **unlock)
    try:
        assert session.peers_sealed and session.auth_key.key == AUTH_KEY
        check_lookups(session)
    finally:
        session.close()
    _client_finds(path, **unlock)
    assert plain_values(path) == {}


def _sealed_file(tmp_path: Path, env: dict[str, str], name: str = "acct") -> Path:
    path = plaintext_with_entities(tmp_path / name)
    _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    return path


def _unsealed(tmp_path: Path, name: str) -> Path:
    """An encrypted file with a plain entity cache (``encrypt_session_file(seal_peers=False)``)."""
    path = plaintext_with_entities(tmp_path / name)
    encrypt_session_file(path, passphrase=PASSPHRASE, kdf=CHEAP_KDF, seal_peers=False)
    return path


def _info(env: dict[str, str], path: Path) -> tuple[dict[str, Any], str]:
    return json_info(_cli(env, "--json", "info", path)), _ok(env, "info", path)


def test_encrypt_seals_the_entity_cache_in_place(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_with_entities(tmp_path / "acct")  # stale plain copies in free pages too
    assert plain_values(path)
    facts, text = _info(env, path)
    assert facts["peers_sealed"] is False and PLAIN_LINE in text.splitlines()
    inode = path.stat().st_ino
    _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    assert path.stat().st_ino == inode  # in place, not a replaced copy
    assert plain_values(path) == {}  # file, journal, WAL, SHM: no username, phone or name
    assert files_holding(path, AUTH_KEY) == []
    _finds_everything(path)
    facts, text = _info(env, path)
    assert facts["peers_sealed"] is True and SEALED_LINE in text.splitlines()


def test_info_on_an_encrypted_file_with_a_plain_cache(tmp_path: Path, env: dict[str, str]) -> None:
    path = _unsealed(tmp_path, "acct")
    facts, text = _info(env, path)
    assert facts["encrypted"] is True and facts["peers_sealed"] is False
    assert PLAIN_LINE in text.splitlines()


@pytest.mark.parametrize(
    ("command", "unlock"),
    [
        (("passwd", "--passphrase-env", "TG_PASS", "--new-passphrase-env", "TG_NEW", *CHEAP),
         {"passphrase": NEW_PASSPHRASE}),
        (("add-key", "raw-key", "--passphrase-env", "TG_PASS", "--new-key-file", "raw.key"),
         {"key": RAW_KEY}),
        (("add-key", "passphrase", "--passphrase-env", "TG_PASS", "--new-passphrase-env",
          "TG_NEW", *CHEAP), {"passphrase": NEW_PASSPHRASE}),
    ],
)  # fmt: skip
def test_slot_commands_keep_the_index_key(
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
    unlock: dict[str, Any],
) -> None:
    path = _sealed_file(tmp_path, env)
    rows = stored_rows(path)
    monkeypatch.chdir(tmp_path)  # raw.key
    _ok(env, command[0], path, *command[1:])
    assert stored_rows(path) == rows  # the same tokens: the same index key
    _finds_everything(path, **unlock)


def test_remove_key_keeps_the_index_key(tmp_path: Path, env: dict[str, str]) -> None:
    path = _sealed_file(tmp_path, env)
    rows = stored_rows(path)
    _ok(env, "add-key", path, "raw-key", "--passphrase-env", "TG_PASS",
        "--new-key-file", tmp_path / "raw.key")  # fmt: skip
    passphrase_slot = json_info(_cli(env, "--json", "info", path))["encryption"]["slots"][0]
    _ok(env, "remove-key", path, passphrase_slot["id"], "--key-file", tmp_path / "raw.key")
    assert stored_rows(path) == rows
    _finds_everything(path, key=RAW_KEY)


def test_rebind_keeps_the_index_key(tmp_path: Path, env: dict[str, str]) -> None:
    source = _sealed_file(tmp_path, env)
    rows = stored_rows(source)
    moved = tmp_path / "renamed.session"
    shutil.copy(source, moved)
    refused = _cli(env, "passwd", moved, "--passphrase-env", "TG_PASS",
                   "--new-passphrase-env", "TG_NEW", *CHEAP)  # fmt: skip
    assert refused.returncode == 6 and "--rebind" in refused.stderr
    _ok(env, "passwd", moved, "--rebind", "--passphrase-env", "TG_PASS",
        "--new-passphrase-env", "TG_NEW", *CHEAP)  # fmt: skip
    assert stored_rows(moved) == rows
    _finds_everything(moved, passphrase=NEW_PASSPHRASE)


def _pyrogram_tokens(path: Path) -> dict[int, str]:
    with sqlite3.connect(path) as conn:
        found = dict(conn.execute("SELECT id, username FROM peers WHERE username IS NOT NULL"))
    conn.close()
    return found


def _store_pyrogram_peer(path: Path, username: str, phone: str, **unlock: Any) -> None:
    async def store() -> None:
        storage = EncryptedStorage(
            FileStorage(path.name.removesuffix(".session"), workdir=path.parent), **unlock
        )
        await storage.open()
        try:
            assert storage.peer_index is not None  # the peer cache is sealed
            await storage.update_peers([(8_000_001, 77, "user", username, phone)])
            assert (await storage.get_peer_by_username(username.upper())).user_id == 8_000_001
            assert (await storage.get_peer_by_phone_number(phone)).user_id == 8_000_001
        finally:
            await storage.close()

    asyncio.run(store())


def test_convert_both_ways_keeps_the_index_key(tmp_path: Path, env: dict[str, str]) -> None:
    """The destination's cache is sealed under the source's index key: a username stored in
    either gets the token the other's index gives (a Telethon token is ``t`` and the first 31
    characters of the Pyrogram-family one, see docs/format.md)."""
    source = _sealed_file(tmp_path, env)
    pyro = tmp_path / "pyro.session"
    _ok(env, "convert", source, pyro, "--to", "pyrogram", "--api-id", "1", "--user-id", "2",
        "--passphrase-env", "TG_PASS")  # fmt: skip
    assert json_info(_cli(env, "--json", "info", pyro))["peers_sealed"] is True
    _store_pyrogram_peer(pyro, "VaultUser0007", "999555000007", passphrase=PASSPHRASE)
    pyro_token = _pyrogram_tokens(pyro)[8_000_001]
    telethon_token = {row[0]: row[2] for row in stored_rows(source)}[7_000_007]
    assert telethon_token == "t" + pyro_token[:31]

    back = tmp_path / "back.session"
    _ok(env, "convert", pyro, back, "--to", "telethon", "--passphrase-env", "TG_PASS")
    facts, text = _info(env, back)
    assert facts["peers_sealed"] is True and SEALED_LINE in text.splitlines()
    session = encrypted(back)
    assert session.peers_sealed
    fill(session)
    check_lookups(session)
    session.close()
    assert stored_rows(back) == stored_rows(source)  # the same tokens as the original file
    _client_finds(back)
    assert plain_values(back) == {}


def test_convert_rebind_keeps_the_index_key(tmp_path: Path, env: dict[str, str]) -> None:
    source = _sealed_file(tmp_path, env)
    moved = tmp_path / "moved.session"
    shutil.copy(source, moved)
    pyro = tmp_path / "pyro.session"
    _ok(env, "convert", moved, pyro, "--to", "pyrogram", "--api-id", "1", "--user-id", "2",
        "--rebind", "--passphrase-env", "TG_PASS")  # fmt: skip
    _store_pyrogram_peer(pyro, "VaultUser0007", "999555000007", passphrase=PASSPHRASE)
    telethon_token = {row[0]: row[2] for row in stored_rows(source)}[7_000_007]
    assert telethon_token == "t" + _pyrogram_tokens(pyro)[8_000_001][:31]


def test_convert_of_a_plaintext_file_seals_the_new_cache(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = plaintext_with_entities(tmp_path / "acct")
    pyro = tmp_path / "pyro.session"
    _ok(env, "convert", source, pyro, "--to", "pyrogram", "--api-id", "1", "--user-id", "2",
        "--passphrase-env", "TG_PASS", *CHEAP)  # fmt: skip
    assert json_info(_cli(env, "--json", "info", pyro))["peers_sealed"] is True
    back = tmp_path / "back.session"
    _ok(env, "convert", pyro, back, "--to", "telethon", "--passphrase-env", "TG_PASS")
    session = encrypted(back)
    assert session.peers_sealed
    session.close()


def test_seal_peers_seals_an_encrypted_plain_cache(tmp_path: Path, env: dict[str, str]) -> None:
    path = _unsealed(tmp_path, "acct")
    assert plain_values(path)
    out = _ok(env, "seal-peers", path, "--passphrase-env", "TG_PASS")
    assert "usernames, phone numbers and names are now tokens" in out
    _finds_everything(path)
    again = _ok(env, "seal-peers", path, "--passphrase-env", "TG_PASS")
    assert "already sealed" in again
    facts, text = _info(env, path)
    assert facts["peers_sealed"] is True and SEALED_LINE in text.splitlines()


def test_seal_peers_refusals_and_rebind(tmp_path: Path, env: dict[str, str]) -> None:
    plain = plaintext_with_entities(tmp_path / "plain")
    refused = _cli(env, "seal-peers", plain, "--passphrase-env", "TG_PASS")
    assert refused.returncode == 7 and "session-vault encrypt" in refused.stderr
    wrong = _cli(env, "seal-peers", _unsealed(tmp_path, "acct"), "--passphrase-env", "TG_NEW")
    assert wrong.returncode == 3
    moved = tmp_path / "moved.session"
    shutil.copy(tmp_path / "acct.session", moved)
    needs = _cli(env, "seal-peers", moved, "--passphrase-env", "TG_PASS")
    assert needs.returncode == 6 and "--rebind" in needs.stderr
    assert plain_values(moved)  # unchanged
    _ok(env, "seal-peers", moved, "--rebind", "--passphrase-env", "TG_PASS")
    _finds_everything(moved)
    other_name = tmp_path / "acct.db"  # SQLiteSession("acct.db") would open acct.db.session
    shutil.copy(tmp_path / "acct.session", other_name)
    misnamed = _cli(env, "seal-peers", other_name, "--passphrase-env", "TG_PASS")
    assert misnamed.returncode == 7 and "does not end in .session" in misnamed.stderr


def test_file_checks_as_for_pyrogram_files(tmp_path: Path, env: dict[str, str]) -> None:
    """Hard links, symbolic links and other holders: encrypt and seal-peers on Telethon files
    check what they check on Pyrogram-family files (one implementation)."""
    path = plaintext_with_entities(tmp_path / "acct")
    os.link(path, tmp_path / "other.session")
    done = _cli(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    assert done.returncode == 0, done.stderr
    [warning] = [line for line in error_lines(done) if "hard link" in line]
    assert "1 other hard link" in warning and "rebind" in warning
    assert plain_values(tmp_path / "other.session") == {}  # the same file

    unsealed = _unsealed(tmp_path, "second")
    os.link(unsealed, tmp_path / "second-link.session")
    done = _cli(env, "seal-peers", unsealed, "--passphrase-env", "TG_PASS")
    assert done.returncode == 0, done.stderr
    [warning] = [line for line in error_lines(done) if "hard link" in line]
    assert "sealed entity cache" in warning

    link = tmp_path / "link.session"
    link.symlink_to(_unsealed(tmp_path, "third"))
    seal = ("seal-peers", link, "--passphrase-env", "TG_PASS")
    for command in (seal, ("passwd", *seal[1:], "--new-passphrase-env", "TG_NEW")):
        refused = _cli(env, *command)
        assert refused.returncode == 7 and "symbolic link" in refused.stderr

    held = _unsealed(tmp_path, "fourth")
    telethon = SQLiteSession(str(tmp_path / "fourth"))  # a running client holds the file open
    try:
        busy = _cli(env, "seal-peers", held, "--passphrase-env", "TG_PASS")
        assert busy.returncode == 5, busy.stderr
    finally:
        telethon.close()
    assert plain_values(held)


#: The command line, started and then killed after it printed "ready" (its imports done), as
#: tests/telethon/test_crash.py kills the Python functions.
CHILD = """
import sys
from vault.cli import main
print("ready", flush=True)
sys.exit(main(sys.argv[1:]))
"""


def _argv(step: str, path: Path) -> list[str]:
    if step == "encrypt":
        return ["encrypt", str(path), "--passphrase-env", "TG_PASS", *CHEAP]
    return ["seal-peers", str(path), "--passphrase-env", "TG_PASS"]


def _killed(argv: list[str], env: dict[str, str], delay: float | None) -> float:
    """Run the command, SIGKILL it ``delay`` seconds after "ready" (``None``: let it end);
    the seconds from "ready" to its end or its kill."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *argv], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    started = time.monotonic()
    if delay is not None:
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    return time.monotonic() - started


@pytest.mark.parametrize("step", ["encrypt", "seal-peers"])
def test_sigkill_leaves_the_old_file_or_the_sealed_one(
    tmp_path: Path, env: dict[str, str], step: str
) -> None:
    """SIGKILLed at any moment, encrypt (of a plaintext file) and seal-peers (of an encrypted
    one with a plain cache) leave the file as it was, or with the key and the cache sealed
    together: never a half-sealed cache, nor a sealed one under a key without the index key."""
    path = _unsealed(tmp_path, "acct") if step == "seal-peers" else plaintext_with_entities(
        tmp_path / "acct")  # fmt: skip
    pristine = path.read_bytes()
    plain_rows = stored_rows(path)
    outcomes: Counter[str] = Counter()
    rng = random.Random(15)
    # The kills spread over the command's own run time (it drifts on a loaded machine).
    took = _killed(_argv(step, path), env, None)
    for _ in range(KILLS):
        path.write_bytes(pristine)
        _killed(_argv(step, path), env, rng.uniform(0, 1.1 * took))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
        if json_info(_cli(env, "--json", "info", path))["peers_sealed"]:
            outcomes["sealed"] += 1
            _finds_everything(path)
        else:
            outcomes["old"] += 1
            assert stored_rows(path) == plain_rows
        _ok(env, *_argv(step, path))  # the next run finishes the job
        _finds_everything(path)
        assert leftovers(tmp_path) == [] and files_holding(path, AUTH_KEY) == []
    assert outcomes["old"] > 0 and outcomes["sealed"] > 0, outcomes


def test_decrypt_empties_the_tokens(tmp_path: Path, env: dict[str, str]) -> None:
    """As decrypt_session_file: without the index key the tokens find nothing, and Telethon's
    own session still finds the entities by id."""
    path = _sealed_file(tmp_path, env)
    _ok(env, "decrypt", path, "--confirm-plaintext", "--passphrase-env", "TG_PASS")
    assert {row[2:] for row in stored_rows(path)} == {(None, None, None)}
    telethon = SQLiteSession(str(tmp_path / "acct"))
    assert telethon.auth_key.key == AUTH_KEY
    assert telethon.get_input_entity(7_000_005) == types.InputPeerUser(7_000_005, 1005)
    telethon.close()
