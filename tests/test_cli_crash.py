"""``session-vault encrypt`` killed with SIGKILL at moments spread over its whole run: every
time, the session file must be a valid session (the old plaintext one or the new encrypted
one) with the right auth key, and the next run must finish the job and leave no trace of the
plaintext key. The file is changed in place (one SQLite transaction through its write-ahead
log), so no temporary file may ever appear.

Kill moments are timed from a marker the child writes when it first connects to a database
(an audit hook, so the CLI runs unchanged), not from its start: the interpreter's start-up,
which load stretches most, does not shift them. Should a round of kills still miss one side of
the commit (a loaded machine slowing the runs after calibration), the loop calibrates again and
runs another round, at most :data:`ROUNDS` in all."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .cli_helpers import (
    CHEAP,
    cli_env,
    client_fixture,
    leftovers,
    open_auth_key,
    run_cli,
    stored_auth_key,
)
from .reliability._support import Tally
from .tampering import SIDE_SUFFIXES, raw_bytes

PASSPHRASE = "kill me softly"
#: Rounds of kills at most (each one calibrated anew) to see both sides of the commit.
ROUNDS = 3
#: Seconds a child may take to reach its first database connection, however loaded the machine.
MARKER_TIMEOUT = 120.0

# Runs ``python -m vault ARGS`` as it is, writing the marker file at its first connection.
_LAUNCHER = """
import os, runpy, sys
marker = os.environ["VAULT_CRASH_MARKER"]
def hook(event, args):
    if event == "sqlite3.connect" and not os.path.exists(marker):
        open(marker, "w").close()
sys.addaudithook(hook)
sys.argv[0] = "vault"
runpy.run_module("vault", run_name="__main__", alter_sys=True)
"""


def _encrypt_args(path: Path, pwfile: Path) -> list[str]:
    return ["encrypt", str(path), "--passphrase-file", str(pwfile), *CHEAP]


def _start(args: list[str], marker: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start the CLI; return it and the moment (monotonic) its marker appeared."""
    with contextlib.suppress(FileNotFoundError):
        marker.unlink()
    process = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, *args],
        env=cli_env(VAULT_CRASH_MARKER=str(marker)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + MARKER_TIMEOUT
    while not marker.exists():
        assert process.poll() is None, f"the CLI ended before its first connection: {_err(process)}"
        assert time.monotonic() < deadline, "the CLI never reached its first connection"
        time.sleep(0.002)
    return process, time.monotonic()


def _err(process: subprocess.Popen[bytes]) -> str:
    """The stderr of a process that has ended (the pipe is closed after)."""
    assert process.stderr is not None
    with process.stderr:
        return process.stderr.read().decode(errors="replace")


def _work_seconds(args: list[str], marker: Path) -> float:
    """Seconds from the marker to the end of a run that must succeed."""
    process, marked = _start(args, marker)
    assert process.wait() == 0, _err(process)
    seconds = time.monotonic() - marked
    _err(process)
    return seconds


def _killed(args: list[str], marker: Path, delay: float) -> bool:
    """Run the CLI and SIGKILL it ``delay`` seconds after its marker; whether it had finished."""
    process, marked = _start(args, marker)
    time.sleep(max(0.0, marked + delay - time.monotonic()))
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait()
    _err(process)
    return finished


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


def _calibrate(args: list[str], marker: Path, path: Path, pristine: bytes) -> float:
    """The longer of two whole runs' seconds from the marker to the end."""
    durations = []
    for _ in range(2):
        _reset(path, pristine)
        durations.append(_work_seconds(args, marker))
    return max(durations)


def kill_loop(tmp_path: Path, iterations: int, seed: int, run: str) -> Counter[str]:
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    pristine = fixture.path.read_bytes()
    rest = _rest(fixture.path)
    assert len(rest) > 2, "the fixture should hold peers"
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSPHRASE)
    args, marker = _encrypt_args(fixture.path, pwfile), tmp_path / "connected.marker"
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    kills = 0
    for _ in range(ROUNDS):
        if kills and outcomes["plain"] and outcomes["encrypted"]:
            break
        work = _calibrate(args, marker, fixture.path, pristine)
        for delay in (1.1 * work * (i + rng.random()) / iterations for i in range(iterations)):
            kills += 1
            _reset(fixture.path, pristine)
            outcomes["finished before its kill"] += _killed(args, marker, delay)
            state = _state(fixture.path, fixture.auth_key)
            outcomes[state] += 1
            assert _rest(fixture.path) == rest, "a killed encrypt changed more than the auth key"
            wal_left = _wal_left(fixture.path)
            # Sealed with the key, in one transaction; until a checkpoint the WAL holds the tokens.
            if state == "encrypted" and not wal_left:
                assert _plain_values(fixture.path) == []
            assert leftovers(tmp_path) == []
            outcomes["killed with a write-ahead log left"] += wal_left

            again = run_cli(*args)
            assert again.returncode == 0, again.stderr
            assert _state(fixture.path, fixture.auth_key) == "encrypted"
            assert leftovers(tmp_path) == []
            assert fixture.auth_key not in raw_bytes(fixture.path)
            assert _plain_values(fixture.path) == []
    tally = Tally(run)
    tally.record("cli_encrypt_crash_loop", kills=kills, **outcomes)
    tally.write()
    return outcomes


def test_sigkill_during_encrypt_leaves_old_or_new(tmp_path: Path) -> None:
    outcomes = kill_loop(tmp_path, iterations=30, seed=7, run="default")
    assert outcomes["plain"] > 0 and outcomes["encrypted"] > 0, outcomes


@pytest.mark.stress
def test_sigkill_during_encrypt_stress(tmp_path: Path) -> None:
    outcomes = kill_loop(tmp_path, iterations=300, seed=int(time.time()), run="stress")
    assert outcomes["plain"] > 0 and outcomes["encrypted"] > 0, outcomes
