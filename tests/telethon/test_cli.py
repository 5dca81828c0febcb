"""``session-vault`` on Telethon ``.session`` files, through the real entry point: files made
by Telethon's own ``SQLiteSession`` (offline), opened afterwards by ``EncryptedSession`` and by
``SQLiteSession`` again; conversion to and from Pyrogram-family files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("telethon")

from telethon.sessions import SQLiteSession, StringSession

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF, decrypt_session_string
from vault.crypto.envelope import is_envelope
from vault.errors import WrongKeyError
from vault.session_string import decode_session_string
from vault.storage import FileStorage
from vault.telethon import EncryptedSession, encrypt_session_file, encrypt_telethon_string

from ..cli_helpers import (
    CHEAP,
    cli_env,
    error_lines,
    json_info,
    kill_moments,
    killed_run,
    leftovers,
    run_cli,
    timed_run,
)
from .helpers import (
    AUTH_KEY,
    DC,
    PASSPHRASE,
    encrypted,
    files_holding,
    plaintext_file,
    plaintext_string,
)

NEW_PASSPHRASE = "the new telethon passphrase"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(TG_PASS=PASSPHRASE, TG_NEW=NEW_PASSPHRASE)


def _cli(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env)


def _ok(env: dict[str, str], *args: str | Path) -> str:
    done = _cli(env, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _encrypted_file(tmp_path: Path, env: dict[str, str]) -> Path:
    path = plaintext_file(tmp_path / "acct")
    _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    return path


def _telethon_opens(path: Path, **unlock: object) -> tuple[bytes, int, str, int]:
    session = encrypted(path, **unlock) if unlock else SQLiteSession(str(path))
    try:
        return session.auth_key.key, session.dc_id, session.server_address, session.port
    finally:
        session.close()


def _journal_mode(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        mode: str = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return mode


def _refused(path: Path, **unlock: object) -> None:
    """``EncryptedSession`` refuses these credentials (its Telethon session closed after)."""
    inner = SQLiteSession(str(path))
    try:
        with pytest.raises(WrongKeyError):
            EncryptedSession(inner, **unlock)
    finally:
        inner.close()


def _stored(path: Path) -> bytes:
    with sqlite3.connect(path) as conn:
        value = conn.execute("SELECT auth_key FROM sessions").fetchone()[0]
    conn.close()
    assert isinstance(value, bytes)
    return value


def test_encrypt_then_decrypt_a_telethon_made_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")  # leaves a stale plaintext copy in a free page
    path.chmod(0o644)
    out = _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    assert f"encrypted {path}" in out
    assert f"vault.telethon.EncryptedSession(SQLiteSession({str(path)!r}), passphrase=...)" in out
    assert files_holding(path, AUTH_KEY) == []  # file, journal, WAL, free pages
    assert leftovers(tmp_path) == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert is_envelope(_stored(path)) and _journal_mode(path) == "delete"  # Telethon's own
    sealed = _stored(path)
    assert _telethon_opens(path, passphrase=PASSPHRASE) == (AUTH_KEY, *DC)
    assert _stored(path) == sealed  # sealed as vault.telethon seals it: nothing to re-seal
    with sqlite3.connect(path) as conn:  # the rest of the session is Telethon's, untouched
        assert conn.execute("SELECT takeout_id FROM sessions").fetchone() == (7,)
    conn.close()

    refused = _cli(env, "decrypt", path, "--passphrase-env", "TG_PASS")
    assert refused.returncode == 2 and is_envelope(_stored(path))
    wrong = _cli(env, "decrypt", path, "--confirm-plaintext", "--passphrase-env", "TG_NEW")
    assert wrong.returncode == 3, wrong.stderr
    _ok(env, "decrypt", path, "--confirm-plaintext", "--passphrase-env", "TG_PASS")
    assert _telethon_opens(path) == (AUTH_KEY, *DC)  # Telethon's own SQLiteSession again


def test_a_file_encrypted_in_python_takes_every_command(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = plaintext_file(tmp_path / "acct")
    assert encrypt_session_file(path, passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    facts = json_info(_cli(env, "info", path, "--json"))
    assert facts["encrypted"] is True and facts["dc_id"] == DC[0]
    _ok(env, "passwd", path, "--passphrase-env", "TG_PASS", "--new-passphrase-env", "TG_NEW",
        *CHEAP)  # fmt: skip
    assert _telethon_opens(path, passphrase=NEW_PASSPHRASE) == (AUTH_KEY, *DC)
    exported = _ok(env, "export", path, "--passphrase-env", "TG_NEW").strip()
    assert EncryptedSession.from_string(exported, passphrase=NEW_PASSPHRASE).auth_key.key == (
        AUTH_KEY
    )
    _ok(env, "decrypt", path, "--confirm-plaintext", "--passphrase-env", "TG_NEW")
    assert _telethon_opens(path) == (AUTH_KEY, *DC)


def test_a_running_client_keeps_its_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")
    client = SQLiteSession(str(path))  # as a running TelegramClient holds it (no lock taken)
    try:
        assert client.auth_key.key == AUTH_KEY
        held = _cli(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
        assert held.returncode == 5, held.stderr
        assert "open in another process" in held.stderr and _stored(path) == AUTH_KEY
        assert json_info(_cli(env, "info", path, "--json"))["has_auth_key"] is True
    finally:
        client.close()
    _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)


def test_encrypt_empties_telethons_temporary_key(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")
    temporary = os.urandom(256)  # what Telethon stores with store_tmp_auth_key_on_disk
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE sessions SET tmp_auth_key = ?", (temporary,))
    _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT tmp_auth_key FROM sessions").fetchone() == (b"",)
    assert files_holding(path, temporary) == [] and files_holding(path, AUTH_KEY) == []


def test_encrypt_is_explicit_and_other_commands_refuse_plaintext(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = plaintext_file(tmp_path / "acct")
    for args in (
        ("passwd", path, "--passphrase-env", "TG_PASS", "--new-passphrase-env", "TG_NEW"),
        ("remove-key", path, "0", "--passphrase-env", "TG_PASS"),
    ):
        done = _cli(env, *args)
        assert done.returncode == 7, done.stderr
        (line,) = error_lines(done)
        assert str(path) in line and "not encrypted" in line
    assert _stored(path) == AUTH_KEY
    again = _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    assert "encrypted" in again
    skipped = _ok(env, "encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP)
    assert "already encrypted" in skipped


def test_info_on_both_layouts(tmp_path: Path, env: dict[str, str]) -> None:
    plain = plaintext_file(tmp_path / "plain")
    facts = json_info(_cli(env, "info", plain, "--json"))
    assert facts["layout"] == "telethon" and facts["encrypted"] is False
    assert (facts["dc_id"], facts["server_address"], facts["port"]) == DC
    sealed = _encrypted_file(tmp_path, env)
    facts = json_info(_cli(env, "info", sealed, "--json"))
    assert facts["encrypted"] is True and facts["has_auth_key"] is True
    assert [slot["type"] for slot in facts["encryption"]["slots"]] == ["passphrase"]
    text = _ok(env, "info", sealed)
    assert "Telethon session file" in text and f"{DC[1]}:{DC[2]}" in text

    pyro = tmp_path / "pyro.session"
    _ok(env, "convert", sealed, pyro, "--to", "pyrogram", "--api-id", "1", "--user-id", "2",
        "--passphrase-env", "TG_PASS")  # fmt: skip
    facts = json_info(_cli(env, "info", pyro, "--json"))
    assert facts["layout"] == "pyrogram" and facts["encrypted"] is True and facts["user_id"] == 2


def test_passwd_add_key_remove_key(tmp_path: Path, env: dict[str, str]) -> None:
    path = _encrypted_file(tmp_path, env)
    _ok(env, "passwd", path, "--passphrase-env", "TG_PASS", "--new-passphrase-env", "TG_NEW",
        *CHEAP)  # fmt: skip
    _refused(path, passphrase=PASSPHRASE)
    assert _telethon_opens(path, passphrase=NEW_PASSPHRASE) == (AUTH_KEY, *DC)

    raw = os.urandom(32)
    keyfile = tmp_path / "raw.key"
    keyfile.write_bytes(raw)
    keyfile.chmod(0o600)
    out = _ok(env, "add-key", path, "raw-key", "--passphrase-env", "TG_NEW",
              "--new-key-file", keyfile)  # fmt: skip
    assert "2 key slots" in out
    assert _telethon_opens(path, key=raw) == (AUTH_KEY, *DC)

    out = _ok(env, "remove-key", path, "0", "--key-file", keyfile)
    assert "1 key slot: raw-key" in out
    _refused(path, passphrase=NEW_PASSPHRASE)
    assert _telethon_opens(path, key=raw) == (AUTH_KEY, *DC)
    assert files_holding(path, AUTH_KEY) == [] and leftovers(tmp_path) == []


def test_export_gives_telethon_strings(tmp_path: Path, env: dict[str, str]) -> None:
    path = _encrypted_file(tmp_path, env)
    before = path.read_bytes()
    sealed = _ok(env, "export", path, "--passphrase-env", "TG_PASS").strip()
    assert sealed.startswith("vault1-telethon:")
    session = EncryptedSession.from_string(sealed, passphrase=PASSPHRASE)
    assert (session.auth_key.key, session.dc_id, session.server_address) == (AUTH_KEY, *DC[:2])
    done = _cli(env, "export", path, "--plain", "--passphrase-env", "TG_PASS")
    assert done.returncode == 0 and "PLAINTEXT" in done.stderr
    assert StringSession(done.stdout.strip()).auth_key.key == AUTH_KEY
    assert path.read_bytes() == before  # export never changes the file


def test_export_of_a_plaintext_telethon_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")
    sealed = _ok(env, "export", path, "--passphrase-env", "TG_PASS", *CHEAP).strip()
    session = EncryptedSession.from_string(sealed, passphrase=PASSPHRASE)
    assert (session.auth_key.key, session.port) == (AUTH_KEY, DC[2])
    done = _cli(env, "export", path, "--plain")
    assert done.returncode == 0 and "not encrypted either" in done.stderr
    assert StringSession(done.stdout.strip()).auth_key.key == AUTH_KEY
    assert _stored(path) == AUTH_KEY


def _pyrogram_key(path: Path, **unlock: object) -> tuple[bytes | None, int | None, int | None]:
    async def read() -> tuple[bytes | None, int | None, int | None]:
        storage = FileStorage(path.stem, workdir=path.parent)
        vault = EncryptedStorage(storage, **unlock) if unlock else storage
        await vault.open()
        try:
            return await vault.auth_key(), await vault.dc_id(), await vault.user_id()
        finally:
            await vault.close()

    return asyncio.run(read())


def test_convert_both_ways_keeps_key_dc_and_encryption(tmp_path: Path, env: dict[str, str]) -> None:
    source = _encrypted_file(tmp_path, env)
    raw = os.urandom(32)
    keyfile = tmp_path / "raw.key"
    keyfile.write_bytes(raw)
    keyfile.chmod(0o600)
    _ok(env, "add-key", source, "raw-key", "--passphrase-env", "TG_PASS", "--new-key-file", keyfile)
    pyro = tmp_path / "pyro.session"
    out = _ok(env, "convert", source, pyro, "--to", "pyrogram", "--api-id", "12345",
              "--user-id", "777", "--passphrase-env", "TG_PASS")  # fmt: skip
    assert "encrypted pyrogram" in out
    assert _pyrogram_key(pyro, passphrase=PASSPHRASE) == (AUTH_KEY, DC[0], 777)
    assert _pyrogram_key(pyro, key=raw) == (AUTH_KEY, DC[0], 777)  # every slot kept
    assert AUTH_KEY not in pyro.read_bytes() and stat.S_IMODE(pyro.stat().st_mode) == 0o600

    back = tmp_path / "back.session"
    out = _ok(env, "convert", pyro, back, "--to", "telethon", "--passphrase-env", "TG_PASS")
    assert "encrypted telethon" in out
    assert files_holding(back, AUTH_KEY) == [] and stat.S_IMODE(back.stat().st_mode) == 0o600
    sealed = _stored(back)
    assert _telethon_opens(back, passphrase=PASSPHRASE) == (AUTH_KEY, *DC)
    assert _stored(back) == sealed  # bound as vault.telethon binds it: nothing re-sealed
    assert _telethon_opens(back, key=raw) == (AUTH_KEY, *DC)

    plain = tmp_path / "plain.session"
    _ok(env, "convert", pyro, plain, "--to", "telethon", "--plain", "--passphrase-env", "TG_PASS")
    assert _telethon_opens(plain) == (AUTH_KEY, *DC)
    plain_pyro = tmp_path / "plainpyro.session"
    _ok(env, "convert", plain, plain_pyro, "--to", "pyrogram", "--plain", "--api-id", "1",
        "--user-id", "2")  # fmt: skip
    assert _pyrogram_key(plain_pyro) == (AUTH_KEY, DC[0], 2)
    assert leftovers(tmp_path) == []


def test_string_convert_both_ways(env: dict[str, str]) -> None:
    def convert(text: str, *args: str) -> str:
        done = run_cli("string", "convert", *args, stdin=text, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    plain = plaintext_string()
    pyro = convert(plain, "--to", "pyrogram", "--api-id", "5", "--user-id", "6")
    data = decode_session_string(pyro)
    assert (data.auth_key, data.dc_id, data.api_id, data.user_id) == (AUTH_KEY, DC[0], 5, 6)
    telethon = StringSession(convert(pyro, "--to", "telethon"))
    assert (telethon.auth_key.key, telethon.dc_id, telethon.server_address) == (AUTH_KEY, *DC[:2])

    sealed = encrypt_telethon_string(plain, passphrase=PASSPHRASE, kdf=CHEAP_KDF)
    pyro_sealed = convert(sealed, "--to", "pyrogram", "--api-id", "5", "--user-id", "6",
                          "--passphrase-env", "TG_PASS")  # fmt: skip
    assert pyro_sealed.startswith("vault1:") and AUTH_KEY.hex() not in pyro_sealed
    assert decode_session_string(decrypt_session_string(pyro_sealed, passphrase=PASSPHRASE)) == data
    back = convert(pyro_sealed, "--to", "telethon", "--passphrase-env", "TG_PASS")
    session = EncryptedSession.from_string(back, passphrase=PASSPHRASE)
    assert (session.auth_key.key, session.port) == (AUTH_KEY, DC[2])

    same = run_cli("string", "convert", "--to", "telethon", stdin=plain, env=env)
    assert same.returncode == 2 and "already a Telethon string" in same.stderr
    wrong = run_cli("string", "convert", "--to", "telethon", "--passphrase-env", "TG_NEW",
                    stdin=pyro_sealed, env=env)  # fmt: skip
    assert wrong.returncode == 3, wrong.stderr


def test_convert_refusals(tmp_path: Path, env: dict[str, str]) -> None:
    source = plaintext_file(tmp_path / "acct")
    dest = tmp_path / "dest.session"
    no_ids = _cli(env, "convert", source, dest, "--to", "pyrogram", "--plain")
    assert no_ids.returncode == 2 and "--api-id" in no_ids.stderr
    same = _cli(env, "convert", source, dest, "--to", "telethon", "--plain")
    assert same.returncode == 2 and "already a Telethon" in same.stderr
    taken = _cli(env, "convert", source, source, "--to", "pyrogram", "--plain")
    assert taken.returncode == 7 and str(source) in taken.stderr
    assert not dest.exists() and _stored(source) == AUTH_KEY


def _encrypt_argv(path: Path) -> list[str]:
    return ["encrypt", str(path), "--passphrase-env", "TG_PASS", *CHEAP]


def test_sigkill_during_encrypt_leaves_old_or_new(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")
    pristine = path.read_bytes()
    durations = []
    for _ in range(2):
        durations.append(timed_run(*_encrypt_argv(path), env=env))
        path.write_bytes(pristine)
    outcomes: Counter[str] = Counter()
    for delay in kill_moments(max(durations), kills=16, seed=15):
        path.write_bytes(pristine)
        killed_run(*_encrypt_argv(path), delay=delay, env=env)
        stored = _stored(path)
        if is_envelope(stored):
            outcomes["encrypted"] += 1
            assert _telethon_opens(path, passphrase=PASSPHRASE) == (AUTH_KEY, *DC)
        else:
            outcomes["plain"] += 1
            assert _telethon_opens(path) == (AUTH_KEY, *DC)
        _ok(env, *_encrypt_argv(path))  # the next run finishes the job and cleans up
        assert leftovers(tmp_path) == [] and files_holding(path, AUTH_KEY) == []
    assert outcomes["plain"] > 0 and outcomes["encrypted"] > 0, outcomes


def test_convert_asks_a_terminal_for_what_telethon_lacks(tmp_path: Path) -> None:
    pytest.importorskip("pexpect")
    from ..test_cli_tty import answer, finish, spawn, telethon_ids  # noqa: PLC0415 - needs pexpect

    source = plaintext_file(tmp_path / "acct")
    dest = tmp_path / "moved.session"
    child = spawn("convert", source, dest, "--to", "pyrogram", *CHEAP)
    answer(child, *telethon_ids(PASSPHRASE))
    rest, status = finish(child)
    assert status == 0, rest
    assert _pyrogram_key(dest, passphrase=PASSPHRASE) == (AUTH_KEY, DC[0], 5000000042)


NO_TELETHON = """
import sys
sys.modules["telethon"] = None  # as if Telethon were not installed
from vault.cli.app import main
code = main(sys.argv[1:])
assert not any(name.startswith("telethon") and module for name, module in sys.modules.items())
sys.exit(code)
"""


def test_the_cli_needs_no_telethon_for_files(tmp_path: Path, env: dict[str, str]) -> None:
    path = plaintext_file(tmp_path / "acct")
    pyro = tmp_path / "pyro.session"

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", NO_TELETHON, *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    for args in (
        ("encrypt", path, "--passphrase-env", "TG_PASS", *CHEAP),
        ("info", path),
        ("convert", path, pyro, "--to", "pyrogram", "--api-id", "1", "--user-id", "2",
         "--passphrase-env", "TG_PASS"),
        ("info", pyro),
    ):  # fmt: skip
        done = run(*args)
        assert done.returncode == 0, done.stderr
    assert _pyrogram_key(pyro, passphrase=PASSPHRASE) == (AUTH_KEY, DC[0], 2)
    needs = run("convert", pyro, tmp_path / "t.session", "--to", "telethon", "--plain",
                "--passphrase-env", "TG_PASS")  # fmt: skip
    assert needs.returncode == 1 and "session-vault[telethon]" in needs.stderr
