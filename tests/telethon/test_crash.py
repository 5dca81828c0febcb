"""encrypt_session_file and seal_session_entities are crash-safe: SIGKILLed at random moments,
the file always opens, either untouched or fully migrated (the key sealed, the entity cache
sealed with it), never damaged, lost or half sealed."""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("telethon")

from telethon.sessions import SQLiteSession
from telethon.tl import types

from vault.crypto import CHEAP_KDF
from vault.crypto.envelope import Purpose, is_envelope, parse
from vault.crypto.sealer import holds_index_key
from vault.telethon import encrypt_session_file

from .helpers import AUTH_KEY, DC, PASSPHRASE, encrypted, plaintext_file

CHILD = """
import sys
from vault.crypto import CHEAP_KDF
from vault.telethon import encrypt_session_file, seal_session_entities
print("ready", flush=True)
if sys.argv[3] == "encrypt":
    encrypt_session_file(sys.argv[1], passphrase=sys.argv[2], kdf=CHEAP_KDF)
else:
    seal_session_entities(sys.argv[1], passphrase=sys.argv[2])
print("done", flush=True)
"""
KILLS = 24
USERS = [
    types.User(id=100 + i, access_hash=i, username=f"crash_user_{i}", phone=f"4477009{i:05d}",
               first_name="Crash")
    for i in range(200)
]  # fmt: skip


def _original(tmp_path: Path, step: str) -> Path:
    """A Telethon-made plaintext file with entities; for ``seal``, encrypted with a plain cache."""
    (tmp_path / "original").mkdir()
    name = tmp_path / "original" / "acct"  # the name its envelope is bound to
    path = plaintext_file(name)
    telethon = SQLiteSession(str(name))
    telethon.process_entities(USERS)
    telethon.save()
    telethon.close()
    if step == "seal":
        encrypt_session_file(path, passphrase=PASSPHRASE, kdf=CHEAP_KDF, seal_peers=False)
    return path


def _check(work: Path, outcomes: dict[str, int]) -> None:
    with sqlite3.connect(work / "acct.session") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = conn.execute("SELECT auth_key FROM sessions").fetchone()[0]
        usernames = {row[0] for row in conn.execute("SELECT username FROM entities")}
    conn.close()
    plain_cache = {user.username for user in USERS} == usernames
    if not is_envelope(stored):
        outcomes["untouched"] += 1
        assert stored == AUTH_KEY and plain_cache
        telethon = SQLiteSession(str(work / "acct"))
        assert telethon.auth_key.key == AUTH_KEY
        telethon.close()
        return
    session = encrypted(work / "acct")
    assert session.auth_key.key == AUTH_KEY
    assert (session.dc_id, session.server_address, session.port) == DC
    if holds_index_key(parse(stored, Purpose.AUTH_KEY)):
        outcomes["sealed"] += 1
        assert not usernames & {user.username for user in USERS}, "a half-sealed cache"
        assert session.get_input_entity("@Crash_User_7") == types.InputPeerUser(107, 7)
        assert session.get_input_entity("+447700900007") == types.InputPeerUser(107, 7)
    else:  # seal_session_entities not done yet: the encrypted file as it was
        outcomes["untouched"] += 1
        assert plain_cache
    session.close()


@pytest.mark.stress
@pytest.mark.parametrize("step", ["encrypt", "seal"])
def test_killed_at_random_moments(tmp_path: Path, step: str) -> None:
    original = _original(tmp_path, step)
    outcomes = {"untouched": 0, "sealed": 0}
    rng = random.Random(15)
    for attempt in range(KILLS):
        work = tmp_path / f"try{attempt}"
        work.mkdir()
        shutil.copy(original, work / "acct.session")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(work / "acct"), PASSPHRASE, step],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.03))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        _check(work, outcomes)
    assert all(outcomes.values()), f"kills never landed on both sides: {outcomes}"
