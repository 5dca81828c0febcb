"""``session-vault encrypt`` seals the session file itself: the plaintext auth key must not stay
in the blocks of a replaced file (checked on a real ext4 file system, byte by byte), hard links
see the encrypted file, symbolic links are refused, and a file another process has open is
left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault.crypto.envelope import is_envelope

from .cli_helpers import CHEAP, client_fixture, error_lines, ext4, open_auth_key, run_cli
from .tampering import stored_auth_key

PASSPHRASE = "in place, please"
FIXTURE = "pyrofork-2.3.69"


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "pw.txt"
    path.write_text(PASSPHRASE)
    return path


def _pieces_found(data: bytes, key: bytes) -> int:
    """How many distinct 16-byte windows of ``key`` appear in ``data``."""
    return sum(key[i : i + 16] in data for i in range(len(key) - 15))


def test_encrypt_leaves_no_plaintext_key_on_the_disk(tmp_path: Path, pwfile: Path) -> None:
    with ext4(tmp_path) as (image, mount):
        fixture = client_fixture(FIXTURE, mount)
        os.sync()
        result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
        assert result.returncode == 0, result.stderr
        assert open_auth_key(fixture.path, passphrase=PASSPHRASE) == fixture.auth_key
    raw = image.read_bytes()
    # Counts first, so a failure never prints the key.
    full, pieces = raw.count(fixture.auth_key), _pieces_found(raw, fixture.auth_key)
    assert full == 0, "the full plaintext auth key is still on the disk"
    assert pieces == 0, "16-byte pieces of the auth key are still on the disk"


def test_the_scan_finds_a_key_left_on_the_disk(tmp_path: Path) -> None:
    """The scan above can fail: a plaintext session file removed normally stays on the disk."""
    with ext4(tmp_path) as (image, mount):
        fixture = client_fixture(FIXTURE, mount)
        os.sync()
        fixture.path.unlink()
    raw = image.read_bytes()
    full, pieces = raw.count(fixture.auth_key), _pieces_found(raw, fixture.auth_key)
    assert (full, pieces) == (1, 241)


def test_a_hard_link_sees_the_encrypted_file(tmp_path: Path, pwfile: Path) -> None:
    fixture = client_fixture(FIXTURE, tmp_path)
    other = tmp_path / "other-name.session"
    os.link(fixture.path, other)
    fixture.path.chmod(0o644)
    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    assert os.stat(other).st_ino == os.stat(fixture.path).st_ino, "the link was broken"
    assert is_envelope(stored_auth_key(other)), "the other name still holds the plaintext key"
    assert (os.stat(fixture.path).st_mode & 0o777) == 0o600
    [warning] = [line for line in error_lines(result) if "hard link" in line]
    assert "1 other hard link" in warning and "rebind" in warning


def test_a_symbolic_link_is_refused(tmp_path: Path, pwfile: Path) -> None:
    fixture = client_fixture(FIXTURE, tmp_path, name="real")
    link = tmp_path / "account.session"
    link.symlink_to(fixture.path)
    before = fixture.path.read_bytes()
    result = run_cli("encrypt", link, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 7, result.stderr
    [line] = error_lines(result)
    assert "symbolic link" in line and str(fixture.path) in line
    assert link.is_symlink() and fixture.path.read_bytes() == before
    # The file itself encrypts.
    direct = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert direct.returncode == 0, direct.stderr


_HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT COUNT(*) FROM peers").fetchone()
print("ready", flush=True)
sys.stdin.read()
conn.execute("INSERT OR REPLACE INTO peers (id, access_hash, type) VALUES (7, 7, 'user')")
conn.commit()
print("wrote", flush=True)
"""


def test_a_file_open_in_another_process_is_refused(tmp_path: Path, pwfile: Path) -> None:
    """A client without vault's lock (here plain sqlite3, as the client's own storage uses)
    holds the file open: encrypting under it would break its next write."""
    fixture = client_fixture(FIXTURE, tmp_path)
    before = fixture.path.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(fixture.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
        assert result.returncode == 5, result.stderr
        [line] = error_lines(result)
        assert f"pid {holder.pid}" in line and "stop it first" in line
        assert fixture.path.read_bytes() == before
        out, _ = holder.communicate("", timeout=30)
        assert holder.returncode == 0 and out == "wrote\n", "the holder's write failed"
    finally:
        holder.kill()
        holder.wait()
    again = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert again.returncode == 0, again.stderr


def test_a_replacing_command_warns_about_other_hard_links(tmp_path: Path, pwfile: Path) -> None:
    """``passwd`` replaces the file by a verified copy: the other name keeps the old version,
    which the old passphrase still opens, so the command says so."""
    fixture = client_fixture(FIXTURE, tmp_path)
    assert run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP).returncode == 0
    other = tmp_path / "other-name.session"
    os.link(fixture.path, other)
    new = tmp_path / "new.txt"
    new.write_text("a new passphrase")
    result = run_cli(
        "passwd", fixture.path, "--passphrase-file", pwfile, "--new-passphrase-file", new, *CHEAP
    )
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in error_lines(result) if "hard link" in line]
    assert "1 other hard link" in warning and "keep the previous version" in warning
    assert open_auth_key(fixture.path, passphrase="a new passphrase") == fixture.auth_key
