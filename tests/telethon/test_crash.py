"""encrypt_session_file is crash-safe: SIGKILLed at random moments, the file always opens,
holding the key either still in the clear (untouched) or sealed, never damaged or lost."""

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

from vault.crypto.envelope import is_envelope

from .helpers import AUTH_KEY, DC, PASSPHRASE, encrypted, plaintext_file

CHILD = """
import sys
from vault.crypto import CHEAP_KDF
from vault.telethon import encrypt_session_file
print("ready", flush=True)
encrypt_session_file(sys.argv[1], passphrase=sys.argv[2], kdf=CHEAP_KDF)
print("done", flush=True)
"""
KILLS = 24


@pytest.mark.stress
def test_killed_at_random_moments(tmp_path: Path) -> None:
    original = plaintext_file(tmp_path / "original")
    outcomes = {"plain": 0, "sealed": 0}
    rng = random.Random(15)
    for attempt in range(KILLS):
        work = tmp_path / f"try{attempt}"
        work.mkdir()
        shutil.copy(original, work / "acct.session")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(work / "acct"), PASSPHRASE],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0, 0.03))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        with sqlite3.connect(work / "acct.session") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = conn.execute("SELECT auth_key FROM sessions").fetchone()[0]
        conn.close()
        if is_envelope(stored):
            outcomes["sealed"] += 1
            session = encrypted(work / "acct")
            assert session.auth_key.key == AUTH_KEY
            assert (session.dc_id, session.server_address, session.port) == DC
            session.close()
        else:
            outcomes["plain"] += 1
            assert stored == AUTH_KEY
            telethon = SQLiteSession(str(work / "acct"))
            assert telethon.auth_key.key == AUTH_KEY
            telethon.close()
    assert all(outcomes.values()), f"kills never landed on both sides: {outcomes}"
