"""``session-vault encrypt`` killed with SIGKILL at moments spread over its whole run: every
time, the session file must be a valid session (the old plaintext one or the new encrypted
one) with the right auth key, and the next run must finish the job and leave no trace of the
plaintext key. The file is changed in place (one SQLite transaction through its write-ahead
log), so no temporary file may ever appear."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .cli_helpers import (
    CHEAP,
    cli_env,
    client_fixture,
    kill_moments,
    killed_run,
    leftovers,
    open_auth_key,
    run_cli,
    stored_auth_key,
    timed_run,
)
from .reliability._support import Tally
from .tampering import SIDE_SUFFIXES, raw_bytes

PASSPHRASE = "kill me softly"


def _encrypt_args(path: Path, pwfile: Path) -> list[str]:
    return [sys.executable, "-m", "vault", "encrypt", str(path), "--passphrase-file", str(pwfile)]


def _rest(path: Path) -> list[tuple[object, ...]]:
    """Everything but the auth key: the other session fields, peers, usernames, state. The
    usernames and phone numbers only as present or not: encrypt seals them (replaced by
    tokens under a fresh key each run), and the kill loop checks that separately."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT dc_id, api_id, test_mode, date, user_id, is_bot FROM sessions"
        ).fetchall()
        rows += sorted(
            db.execute(
                "SELECT id, access_hash, type, username IS NULL, phone_number IS NULL, "
                "last_update_on FROM peers"
            ).fetchall()
        )
        rows += sorted(db.execute("SELECT peer_id, last_update_on FROM usernames").fetchall())
        rows += sorted(db.execute("SELECT * FROM update_state").fetchall())
    return rows


def _plain_values(path: Path) -> list[bytes]:
    """The fixture's usernames and phone numbers found in the file or its side files."""
    data = raw_bytes(path)
    return [v for v in (b"fixture_self", b"fixture_group_alias", b"15550001") if v in data]


def _state(path: Path, auth_key: bytes) -> str:
    """``"plain"`` or ``"encrypted"``; fails the test unless the file gives ``auth_key``."""
    stored = stored_auth_key(path)
    assert stored is not None, "the session lost its auth key"
    if len(stored) == 256:
        assert stored == auth_key
        return "plain"
    assert open_auth_key(path, passphrase=PASSPHRASE) == auth_key
    return "encrypted"


def _wal_left(path: Path) -> bool:
    wal = Path(f"{path}-wal")
    return wal.exists() and wal.stat().st_size > 0


def _reset(path: Path, pristine: bytes) -> None:
    for suffix in SIDE_SUFFIXES[1:]:
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")
    path.write_bytes(pristine)


def kill_loop(tmp_path: Path, iterations: int, seed: int, run: str) -> Counter[str]:
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    pristine = fixture.path.read_bytes()
    rest = _rest(fixture.path)
    assert len(rest) > 2, "the fixture should hold peers"
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSPHRASE)
    env = cli_env()
    durations = []
    for _ in range(2):
        durations.append(timed_run(*_encrypt_args(fixture.path, pwfile)[3:], *CHEAP))
        _reset(fixture.path, pristine)

    outcomes: Counter[str] = Counter()
    for delay in kill_moments(max(durations), iterations, seed):
        _reset(fixture.path, pristine)
        killed_run(*_encrypt_args(fixture.path, pwfile)[3:], *CHEAP, delay=delay, env=env)
        state = _state(fixture.path, fixture.auth_key)
        outcomes[state] += 1
        assert _rest(fixture.path) == rest, "a killed encrypt changed more than the auth key"
        wal_left = _wal_left(fixture.path)
        # Sealed with the key, in one transaction; until a checkpoint the WAL holds the tokens.
        if state == "encrypted" and not wal_left:
            assert _plain_values(fixture.path) == []
        assert leftovers(tmp_path) == []
        outcomes["killed with a write-ahead log left"] += wal_left

        again = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
        assert again.returncode == 0, again.stderr
        assert _state(fixture.path, fixture.auth_key) == "encrypted"
        assert leftovers(tmp_path) == []
        assert fixture.auth_key not in raw_bytes(fixture.path)
        assert _plain_values(fixture.path) == []
    tally = Tally(run)
    tally.record("cli_encrypt_crash_loop", kills=iterations, **outcomes)
    tally.write()
    return outcomes


def test_sigkill_during_encrypt_leaves_old_or_new(tmp_path: Path) -> None:
    outcomes = kill_loop(tmp_path, iterations=30, seed=7, run="default")
    assert outcomes["plain"] > 0 and outcomes["encrypted"] > 0, outcomes


@pytest.mark.stress
def test_sigkill_during_encrypt_stress(tmp_path: Path) -> None:
    outcomes = kill_loop(tmp_path, iterations=300, seed=int(time.time()), run="stress")
    assert outcomes["plain"] > 0 and outcomes["encrypted"] > 0, outcomes
