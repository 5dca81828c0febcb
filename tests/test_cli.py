"""The ``session-vault`` command line, driven through ``python -m vault`` in subprocesses over
session files written by real Pyrogram-family clients (``tests/data``) and by vault."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vault import EncryptedStorage, decrypt_session_string
from vault.cli.exits import CliError
from vault.cli.rewrite import rewrite
from vault.cli.vaults import check_same_key
from vault.crypto.envelope import Envelope, Purpose, parse
from vault.errors import CorruptedError
from vault.storage import FileStorage, MemoryStorage

from .cli_helpers import (
    CHEAP,
    CLIENT_FIXTURES,
    READABLE_FIXTURES,
    Fixture,
    cli_env,
    client_fixture,
    error_lines,
    json_info,
    leftovers,
    open_auth_key,
    run_cli,
    stored_auth_key,
    telethon_string,
    vault_fixture,
)
from .encrypted_helpers import data_key
from .tampering import digest, raw_bytes, session_files

PASSPHRASE = "correct horse battery staple"
COMMANDS = [
    ["encrypt"],
    ["decrypt"],
    ["passwd"],
    ["add-key"],
    ["remove-key"],
    ["export"],
    ["import"],
    ["info"],
    ["string"],
    ["string", "encrypt"],
    ["string", "decrypt"],
]


@pytest.fixture(params=[*READABLE_FIXTURES, "vault"])
def plain(request: pytest.FixtureRequest, tmp_path: Path) -> Fixture:
    """A plaintext session file of each kind: every real client fixture, and vault's own."""
    if request.param == "vault":
        return vault_fixture(tmp_path)
    return client_fixture(request.param, tmp_path)


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture
def encrypted(tmp_path: Path, pwfile: Path) -> Fixture:
    """The Pyrofork fixture, encrypted with PASSPHRASE through the CLI."""
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    return fixture


def test_client_fixtures_are_present() -> None:
    assert len(CLIENT_FIXTURES) >= 3, CLIENT_FIXTURES


def test_every_client_fixture_is_readable() -> None:
    assert READABLE_FIXTURES == CLIENT_FIXTURES


def test_kurigram_file_is_encrypted_in_its_own_layout(tmp_path: Path, pwfile: Path) -> None:
    """Kurigram's version 7 layout is kept, so Kurigram's Client runs on the result through
    ``EncryptedStorage(FileStorage(...))``."""
    fixture = client_fixture("kurigram-2.2.26", tmp_path)
    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    facts = json_info(run_cli("info", fixture.path, "--json"))
    assert (facts["schema_version"], facts["written_by"]) == (7, "Kurigram / Irenogram")
    assert facts["encrypted"] is True
    assert facts["peers"] == len(fixture.peers)
    assert fixture.auth_key not in raw_bytes(fixture.path)
    assert open_auth_key(fixture.path, passphrase=PASSPHRASE) == fixture.auth_key


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: session-vault {' '.join(command)}")


def test_version_and_exit_codes_in_help() -> None:
    assert run_cli("--version").stdout.startswith("session-vault ")
    top = run_cli("--help").stdout
    assert "3  wrong passphrase or key" in top and "5  in use" in top


def test_no_passphrase_option_on_the_command_line(plain: Fixture) -> None:
    before = session_files(plain.path)
    result = run_cli("encrypt", plain.path, "--passphrase", PASSPHRASE)
    assert result.returncode == 2
    assert session_files(plain.path) == before


def test_encrypt_real_client_files(plain: Fixture, pwfile: Path, tmp_path: Path) -> None:
    result = run_cli("encrypt", plain.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    assert f"encrypted {plain.path}" in result.stdout
    assert error_lines(result) == []

    stored = stored_auth_key(plain.path)
    assert stored is not None and stored[:4] == b"SVLT"
    raw = raw_bytes(plain.path)
    assert plain.auth_key not in raw
    assert not any(plain.auth_key[i : i + 32] in raw for i in range(0, 256, 32))
    assert stat.S_IMODE(plain.path.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []

    assert open_auth_key(plain.path, passphrase=PASSPHRASE) == plain.auth_key
    for peer_id, access_hash, *_ in plain.peers:
        peer = asyncio.run(_peer(plain.path, peer_id))
        assert getattr(peer, "access_hash", None) in (access_hash, None)


async def _peer(path: Path, peer_id: int) -> object:
    storage = EncryptedStorage(
        FileStorage(path.name.removesuffix(".session"), workdir=path.parent), passphrase=PASSPHRASE
    )
    await storage.open()
    try:
        return await storage.get_peer_by_id(peer_id)
    finally:
        await storage.close()


def test_encrypt_twice_is_refused_politely(encrypted: Fixture, pwfile: Path) -> None:
    before = session_files(encrypted.path)
    result = run_cli("encrypt", encrypted.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0
    assert "already encrypted" in result.stdout
    assert session_files(encrypted.path) == before


def test_info_shows_slots_and_account_but_never_the_key(encrypted: Fixture) -> None:
    before = session_files(encrypted.path)
    result = run_cli("info", encrypted.path, "--json")
    facts = json_info(result)
    assert facts["encrypted"] is True
    assert facts["dc_id"] == encrypted.session["dc_id"]
    assert facts["user_id"] == encrypted.session["user_id"]
    assert facts["is_bot"] is False
    assert facts["peers"] == len(encrypted.peers)
    [slot] = facts["encryption"]["slots"]
    assert slot["type"] == "passphrase"
    assert slot["kdf"] == {
        "algorithm": "argon2id",
        "time_cost": 1,
        "memory_kib": 8,
        "parallelism": 1,
    }
    human = run_cli("info", encrypted.path).stdout
    assert "passphrase  Argon2id t=1 m=8 KiB p=1" in human
    for text in (result.stdout, human):
        assert encrypted.auth_key.hex() not in text
    assert session_files(encrypted.path) == before


def test_info_of_a_plaintext_file_says_how_to_protect_it(plain: Fixture) -> None:
    before = session_files(plain.path)
    result = run_cli("info", plain.path)
    assert result.returncode == 0, result.stderr
    assert f"session-vault encrypt {plain.path}" in result.stdout
    assert session_files(plain.path) == before


@pytest.mark.parametrize("version", [0x02, 0x01], ids=["unknown-version", "bad-check"])
def test_info_and_the_library_agree_on_a_256_byte_value_with_the_magic(
    tmp_path: Path, pwfile: Path, version: int
) -> None:
    """256 bytes starting with the envelope magic are an envelope cut short, not a plain key:
    the library refuses to open (or migrate) them, and ``info`` and ``encrypt`` say the same
    instead of "stored in the clear"."""
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    forged = b"SVLT" + bytes([version]) + os.urandom(251)
    with contextlib.closing(sqlite3.connect(fixture.path)) as db:
        db.execute("UPDATE sessions SET auth_key = ?", (forged,))
        db.commit()
    with pytest.raises(CorruptedError) as library:
        open_auth_key(fixture.path, passphrase=PASSPHRASE)
    message = " ".join(str(library.value).split())
    before = digest(fixture.path)

    for args in (["info"], ["encrypt", "--passphrase-file", pwfile, *CHEAP]):
        result = run_cli(*args, fixture.path)
        _assert_clean_failure(result, 6, message)
        assert result.stdout == "" and "in the clear" not in result.stderr
    result = run_cli("info", "--json", fixture.path)
    assert result.returncode == 6 and result.stderr == ""
    [entry] = json.loads(result.stdout)["results"]
    assert entry["ok"] is False and entry["error"]["exit_code"] == 6
    assert message in entry["error"]["message"] and "in the clear" not in result.stdout
    assert digest(fixture.path) == before
    assert leftovers(tmp_path) == []


def test_passphrase_from_environment(plain: Fixture) -> None:
    env = cli_env(MY_PW=PASSPHRASE)
    result = run_cli("encrypt", plain.path, "--passphrase-env", "MY_PW", *CHEAP, env=env)
    assert result.returncode == 0, result.stderr
    assert open_auth_key(plain.path, passphrase=PASSPHRASE) == plain.auth_key


def test_no_terminal_and_no_passphrase_source_is_a_usage_error(plain: Fixture) -> None:
    before = session_files(plain.path)
    result = run_cli("encrypt", plain.path, *CHEAP)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "--passphrase-env" in line
    assert session_files(plain.path) == before


# --- errors: one line, a documented exit code, nothing modified -----------------------------


def _assert_clean_failure(result: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("session-vault: error: ")
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [["export"], ["passwd", "--new-passphrase-env", "HOME"], ["decrypt", "--confirm-plaintext"]],
    ids=lambda c: c[0],
)
def test_wrong_passphrase(encrypted: Fixture, tmp_path: Path, command: list[str]) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it")
    before = session_files(encrypted.path)
    result = run_cli(*command, encrypted.path, "--passphrase-file", wrong)
    _assert_clean_failure(result, 3, "does not unlock")
    assert PASSPHRASE not in result.stderr and "not it" not in result.stderr
    assert session_files(encrypted.path) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["encrypt", "info", "export", "passwd"])
def test_missing_file(tmp_path: Path, pwfile: Path, command: str) -> None:
    extra = [] if command == "info" else ["--passphrase-file", str(pwfile)]
    result = run_cli(command, tmp_path / "nope.session", *extra)
    _assert_clean_failure(result, 4, "nope.session")
    assert not (tmp_path / "nope.session").exists()


def _telethon_like_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE version (version INTEGER PRIMARY KEY);"
        "CREATE TABLE sessions (dc_id INTEGER PRIMARY KEY, server_address TEXT, port INTEGER,"
        " auth_key BLOB, takeout_id INTEGER);"
        "CREATE TABLE entities (id INTEGER PRIMARY KEY, hash INTEGER NOT NULL);"
        "INSERT INTO version VALUES (7);"
    )
    conn.commit()
    conn.close()


@pytest.mark.parametrize("command", ["encrypt", "info", "export"])
def test_unknown_schema(tmp_path: Path, pwfile: Path, command: str) -> None:
    path = tmp_path / "telethon.session"
    _telethon_like_file(path)
    before = session_files(path)
    extra = [] if command == "info" else ["--passphrase-file", str(pwfile), *CHEAP]
    result = run_cli(command, path, *extra)
    _assert_clean_failure(result, 6, f"{path} is not a Pyrogram-family session")
    assert "Telethon" in result.stderr
    assert session_files(path) == before


@pytest.mark.parametrize("command", ["encrypt", "info"])
def test_not_a_database(tmp_path: Path, pwfile: Path, command: str) -> None:
    path = tmp_path / "junk.session"
    path.write_bytes(b"this is not SQLite at all " * 200)
    before = session_files(path)
    extra = [] if command == "info" else ["--passphrase-file", str(pwfile), *CHEAP]
    result = run_cli(command, path, *extra)
    _assert_clean_failure(result, 6, "not an SQLite database")
    assert session_files(path) == before


def test_tampered_envelope(encrypted: Fixture, pwfile: Path) -> None:
    conn = sqlite3.connect(encrypted.path)
    stored = bytearray(conn.execute("SELECT auth_key FROM sessions").fetchone()[0])
    stored[-40] ^= 0x01
    conn.execute("UPDATE sessions SET auth_key = ?", (bytes(stored),))
    conn.commit()
    conn.close()
    before = session_files(encrypted.path)
    for command in (["export"], ["passwd", "--new-passphrase-file", str(pwfile)], ["info"]):
        extra = [] if command == ["info"] else ["--passphrase-file", str(pwfile)]
        result = run_cli(command[0], encrypted.path, *command[1:], *extra)
        _assert_clean_failure(result, 6, "damaged")
    assert session_files(encrypted.path) == before


@pytest.mark.parametrize("command", ["encrypt", "passwd", "decrypt"])
async def test_locked_file(plain: Fixture, pwfile: Path, command: str) -> None:
    """A client holding the session open (vault's FileStorage takes an flock) blocks changes."""
    storage = FileStorage(plain.name, workdir=plain.path.parent)
    await storage.open()
    try:
        before = session_files(plain.path)
        args = [command, str(plain.path), "--passphrase-file", str(pwfile)]
        if command == "decrypt":
            args.append("--confirm-plaintext")
        if command == "passwd":
            args += ["--new-passphrase-file", str(pwfile)]
        if command != "decrypt":
            args += CHEAP
        result = await asyncio.to_thread(run_cli, *args)
        _assert_clean_failure(result, 5, "locked")
        assert session_files(plain.path) == before
    finally:
        await storage.close()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "junk.session"
    path.write_bytes(b"x" * 4096)
    result = run_cli("--debug", "info", path)
    assert result.returncode == 6
    assert "Traceback" in result.stderr


# --- changing slots ------------------------------------------------------------------------


def _stored_envelope(path: Path) -> Envelope:
    stored = stored_auth_key(path)
    assert stored is not None
    return parse(stored, Purpose.AUTH_KEY)


def test_installed_command_runs(tmp_path: Path) -> None:
    """The ``session-vault`` script pip installs (the tests run ``python -m vault``)."""
    script = Path(sys.executable).with_name("session-vault")
    assert script.exists(), f"{script} is missing: is the package installed?"
    result = subprocess.run(
        [str(script), "info", str(tmp_path / "missing.session")],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "missing.session" in result.stderr
    assert "Traceback" not in result.stderr


def test_passwd_changes_the_passphrase_and_rotates_the_data_key(
    encrypted: Fixture, pwfile: Path, tmp_path: Path
) -> None:
    new = tmp_path / "new.txt"
    new.write_text("a new passphrase")
    before = _stored_envelope(encrypted.path)
    result = run_cli(
        "passwd", encrypted.path, "--passphrase-file", pwfile, "--new-passphrase-file", new, *CHEAP
    )
    after = _stored_envelope(encrypted.path)
    assert result.returncode == 0, result.stderr
    assert open_auth_key(encrypted.path, passphrase="a new passphrase") == encrypted.auth_key
    old = run_cli("export", encrypted.path, "--passphrase-file", pwfile)
    assert old.returncode == 3
    assert leftovers(tmp_path) == []
    # The same vault under a fresh data key: the old passphrase opens old copies only.
    assert after.header.vault_id == before.header.vault_id
    assert after.header.slots != before.header.slots
    new_key = data_key(after.header, passphrase="a new passphrase")
    assert new_key != data_key(before.header, passphrase=PASSPHRASE)


def test_remove_key_needs_the_secret_of_every_slot_kept(
    encrypted: Fixture, pwfile: Path, tmp_path: Path
) -> None:
    keys = []
    for name in ("one.key", "two.key"):
        keys.append(tmp_path / name)
        keys[-1].write_text(os.urandom(32).hex())
        added = run_cli(
            "add-key",
            encrypted.path,
            "raw-key",
            "--passphrase-file",
            pwfile,
            "--new-key-file",
            keys[-1],
        )
        assert added.returncode == 0, added.stderr
    before = digest(encrypted.path)
    refused = run_cli("remove-key", encrypted.path, "2", "--passphrase-file", pwfile)
    _assert_clean_failure(refused, 7, "slot(s) 1 (raw_key)")
    assert digest(encrypted.path) == before
    removed = run_cli(
        "remove-key", encrypted.path, "2", "--passphrase-file", pwfile, "--key-file", keys[0]
    )
    assert removed.returncode == 0, removed.stderr
    assert open_auth_key(encrypted.path, passphrase=PASSPHRASE) == encrypted.auth_key
    assert open_auth_key(encrypted.path, key=bytes.fromhex(keys[0].read_text())) == (
        encrypted.auth_key
    )


def test_add_and_remove_slots(encrypted: Fixture, pwfile: Path, tmp_path: Path) -> None:
    keyfile = tmp_path / "kms.key"
    key = os.urandom(32)
    keyfile.write_text(key.hex())
    added = run_cli(
        "add-key", encrypted.path, "raw-key", "--passphrase-file", pwfile, "--new-key-file", keyfile
    )
    assert added.returncode == 0, added.stderr
    assert "2 key slots: passphrase, raw-key" in added.stdout
    assert open_auth_key(encrypted.path, key=key) == encrypted.auth_key

    same = run_cli("remove-key", encrypted.path, "1", "--key-file", keyfile)
    _assert_clean_failure(same, 7, "unlocked with")

    before = session_files(encrypted.path)
    removed = run_cli("remove-key", encrypted.path, "0", "--key-file", keyfile)
    assert removed.returncode == 0, removed.stderr
    assert session_files(encrypted.path) != before
    facts = json_info(run_cli("info", encrypted.path, "--json"))
    assert [s["type"] for s in facts["encryption"]["slots"]] == ["raw-key"]
    assert run_cli("export", encrypted.path, "--passphrase-file", pwfile).returncode == 3

    before = session_files(encrypted.path)
    last = run_cli("remove-key", encrypted.path, "0", "--key-file", keyfile)
    assert last.returncode == 7
    assert session_files(encrypted.path) == before


def _slot_ids(path: Path) -> list[tuple[str, str]]:
    facts = json_info(run_cli("info", path, "--json"))
    return [(s["id"], s["type"]) for s in facts["encryption"]["slots"]]


def test_slot_ids_survive_removals_and_rotations(
    encrypted: Fixture, pwfile: Path, tmp_path: Path
) -> None:
    """remove-key takes the id info shows; removing a slot before another (which moves it and
    re-wraps it under a new data key) keeps that other slot's id."""
    keyfile = tmp_path / "kms.key"
    keyfile.write_text(os.urandom(32).hex())
    env = cli_env(SECOND="a second passphrase for the slot id test")
    unlock = ("--passphrase-file", pwfile)
    for kind, extra in (
        ("raw-key", ("--new-key-file", keyfile)),
        ("passphrase", ("--new-passphrase-env", "SECOND", *CHEAP)),
    ):
        added = run_cli("add-key", encrypted.path, kind, *unlock, *extra, env=env)
        assert added.returncode == 0, added.stderr
    ids = _slot_ids(encrypted.path)
    assert [kind for _, kind in ids] == ["passphrase", "raw-key", "passphrase"]
    first, raw, second = (slot_id for slot_id, _ in ids)
    assert raw == "r1" and first != second and first[0] == second[0] == "p"
    assert f"  {second} " in run_cli("info", encrypted.path).stdout

    # The first slot goes: the two kept slots move up, and the data key is rotated.
    both = ("--key-file", keyfile, "--passphrase-env", "SECOND")
    removed = run_cli("remove-key", encrypted.path, first, *both, env=env)
    assert removed.returncode == 0, removed.stderr
    assert f"removed key slot {first} (passphrase)" in removed.stdout
    assert _slot_ids(encrypted.path) == [(raw, "raw-key"), (second, "passphrase")]

    again = ("--passphrase-env", "SECOND")
    unknown = run_cli("remove-key", encrypted.path, first, *again, env=env)
    _assert_clean_failure(unknown, 2, f"its slots are {raw}, {second}")
    removed = run_cli("remove-key", encrypted.path, raw, *again, env=env)
    assert removed.returncode == 0, removed.stderr
    assert _slot_ids(encrypted.path) == [(second, "passphrase")]


def test_add_a_second_passphrase(encrypted: Fixture, pwfile: Path, tmp_path: Path) -> None:
    env = cli_env(SECOND="second passphrase")
    result = run_cli(
        "add-key", encrypted.path, "passphrase", "--passphrase-file", pwfile,
        "--new-passphrase-env", "SECOND", *CHEAP, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert open_auth_key(encrypted.path, passphrase="second passphrase") == encrypted.auth_key
    assert open_auth_key(encrypted.path, passphrase=PASSPHRASE) == encrypted.auth_key


def test_decrypt_needs_confirmation(encrypted: Fixture, pwfile: Path, tmp_path: Path) -> None:
    before = session_files(encrypted.path)
    refused = run_cli("decrypt", encrypted.path, "--passphrase-file", pwfile)
    _assert_clean_failure(refused, 2, "--confirm-plaintext")
    assert session_files(encrypted.path) == before
    done = run_cli("decrypt", encrypted.path, "--passphrase-file", pwfile, "--confirm-plaintext")
    assert done.returncode == 0, done.stderr
    assert stored_auth_key(encrypted.path) == encrypted.auth_key
    assert open_auth_key(encrypted.path) == encrypted.auth_key
    assert leftovers(tmp_path) == []


# --- strings -------------------------------------------------------------------------------


def test_export_encrypted_string_for_ci(encrypted: Fixture, pwfile: Path) -> None:
    before = session_files(encrypted.path)
    result = run_cli("export", encrypted.path, "--passphrase-file", pwfile)
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("vault1:")
    assert session_files(encrypted.path) == before

    async def resume() -> bytes | None:
        storage = EncryptedStorage(MemoryStorage(), passphrase=PASSPHRASE, session_string=secret)
        await storage.open()
        try:
            return await storage.auth_key()
        finally:
            await storage.close()

    assert asyncio.run(resume()) == encrypted.auth_key


def test_export_plain_warns_on_stderr(encrypted: Fixture, pwfile: Path) -> None:
    expected = json.loads(Path("tests/data/pyrofork-2.3.69.json").read_text())["session_string"]
    result = run_cli("export", encrypted.path, "--passphrase-file", pwfile, "--plain")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert "warning" in result.stderr and "PLAINTEXT" in result.stderr
    assert expected not in result.stderr


def test_export_of_a_plaintext_file_encrypts_the_string(plain: Fixture, pwfile: Path) -> None:
    before = session_files(plain.path)
    result = run_cli("export", plain.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip()
    assert text.startswith("vault1:")
    assert session_files(plain.path) == before
    session = decrypt_session_string(text, passphrase=PASSPHRASE)
    assert asyncio.run(_string_key(session)) == plain.auth_key


async def _string_key(session_string: str) -> bytes | None:
    storage = MemoryStorage(session_string=session_string)
    await storage.open()
    try:
        return await storage.auth_key()
    finally:
        await storage.close()


def test_string_encrypt_and_decrypt(pwfile: Path) -> None:
    plain = json.loads(Path("tests/data/pyrogram-2.0.106.json").read_text())["session_string"]
    enc = run_cli("string", "encrypt", "--passphrase-file", pwfile, *CHEAP, stdin=plain + "\n")
    assert enc.returncode == 0, enc.stderr
    assert enc.stdout.startswith("vault1:") and plain not in enc.stdout + enc.stderr
    dec = run_cli("string", "decrypt", "--passphrase-file", pwfile, stdin=enc.stdout)
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout.strip() == plain
    assert "PLAINTEXT" in dec.stderr
    bad = run_cli("string", "decrypt", "--passphrase-file", pwfile, stdin=enc.stdout[:-9])
    _assert_clean_failure(bad, 6, "encrypted")
    assert plain not in bad.stderr


def test_import_plain_string_into_encrypted_file(tmp_path: Path, pwfile: Path) -> None:
    meta = json.loads(Path("tests/data/kurigram-2.2.26.json").read_text())
    out = tmp_path / "moved.session"
    result = run_cli(
        "import", "--out", out, "--passphrase-file", pwfile, *CHEAP, stdin=meta["session_string"]
    )
    assert result.returncode == 0, result.stderr
    key = bytes.fromhex(meta["session"]["auth_key"])
    assert key not in raw_bytes(out)
    assert open_auth_key(out, passphrase=PASSPHRASE) == key
    again = run_cli(
        "import", "--out", out, "--passphrase-file", pwfile, stdin=meta["session_string"]
    )
    _assert_clean_failure(again, 7, "already exists")
    assert leftovers(tmp_path) == []


def test_import_plain_writes_a_plain_file(tmp_path: Path) -> None:
    meta = json.loads(Path("tests/data/pyrofork-2.3.69.json").read_text())
    out = tmp_path / "plain.session"
    result = run_cli("import", "--out", out, "--plain", stdin=meta["session_string"])
    assert result.returncode == 0, result.stderr
    assert stored_auth_key(out) == bytes.fromhex(meta["session"]["auth_key"])
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_import_encrypted_string_keeps_its_slots(
    encrypted: Fixture, pwfile: Path, tmp_path: Path
) -> None:
    secret = run_cli("export", encrypted.path, "--passphrase-file", pwfile).stdout
    out = tmp_path / "copy.session"
    result = run_cli("import", "--out", out, "--passphrase-file", pwfile, stdin=secret)
    assert result.returncode == 0, result.stderr
    assert open_auth_key(out, passphrase=PASSPHRASE) == encrypted.auth_key


def test_import_telethon_string(tmp_path: Path, pwfile: Path) -> None:
    key = os.urandom(256)
    text = telethon_string(5, "2001:67c:4e8:f004::a", key)
    out = tmp_path / "from_telethon.session"

    missing = run_cli("import", "--out", out, "--passphrase-file", pwfile, stdin=text)
    _assert_clean_failure(missing, 2, "--api-id")
    assert not out.exists()

    result = run_cli(
        "import", "--out", out, "--passphrase-file", pwfile, "--api-id", "2040",
        "--user-id", "5000000009", *CHEAP, stdin=text,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    facts = json_info(run_cli("info", out, "--json"))
    assert (facts["dc_id"], facts["api_id"], facts["user_id"]) == (5, 2040, 5000000009)
    assert open_auth_key(out, passphrase=PASSPHRASE) == key


# --- many files ----------------------------------------------------------------------------


def test_directories_and_globs(tmp_path: Path, pwfile: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    fixtures = [client_fixture(stem, folder, name=stem) for stem in READABLE_FIXTURES]
    (folder / "notes.txt").write_text("not a session")
    result = run_cli("encrypt", folder, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("encrypted ") == len(fixtures)
    for fixture in fixtures:
        assert open_auth_key(fixture.path, passphrase=PASSPHRASE) == fixture.auth_key

    other = tmp_path / "more"
    other.mkdir()
    extra = [vault_fixture(other, name=f"acc{i}") for i in range(2)]
    result = run_cli("encrypt", str(other / "acc*.session"), "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    assert all(stored_auth_key(f.path)[:4] == b"SVLT" for f in extra)  # type: ignore[index]


def test_subdirectories_only_with_r(tmp_path: Path, pwfile: Path) -> None:
    top = vault_fixture(tmp_path, name="top")
    (tmp_path / "nested").mkdir()
    nested = vault_fixture(tmp_path / "nested", name="deep")
    flat = run_cli("encrypt", tmp_path, "--passphrase-file", pwfile, *CHEAP)
    assert flat.returncode == 0, flat.stderr
    assert stored_auth_key(nested.path) == nested.auth_key  # left alone without -r
    deep = run_cli("encrypt", "-r", tmp_path, "--passphrase-file", pwfile, *CHEAP)
    assert deep.returncode == 0, deep.stderr
    for fixture in (top, nested):
        assert open_auth_key(fixture.path, passphrase=PASSPHRASE) == fixture.auth_key


def test_one_failing_file_does_not_stop_the_others(tmp_path: Path, pwfile: Path) -> None:
    good = vault_fixture(tmp_path, name="good")
    junk = tmp_path / "bad.session"
    junk.write_bytes(b"garbage" * 100)
    result = run_cli("encrypt", junk, good.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 6
    [line] = error_lines(result)
    assert "bad.session" in line
    assert open_auth_key(good.path, passphrase=PASSPHRASE) == good.auth_key


# --- OS keyring ----------------------------------------------------------------------------


def test_keyring_slot_round_trip(plain: Fixture, tmp_path: Path, pwfile: Path) -> None:
    store = tmp_path / "keyring.json"
    env = cli_env(
        PYTHON_KEYRING_BACKEND="tests.cli_keyring.FileKeyring", VAULT_TEST_KEYRING=str(store)
    )
    result = run_cli("encrypt", plain.path, "--keyring", env=env)
    assert result.returncode == 0, result.stderr
    assert "1 key slot: keyring" in result.stdout
    [entry] = json.loads(store.read_text())
    assert entry.startswith("session-vault/vault-")

    added = run_cli(
        "add-key", plain.path, "passphrase", "--keyring", "--new-passphrase-file", pwfile,
        *CHEAP, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    removed = run_cli("remove-key", plain.path, "0", "--passphrase-file", pwfile, env=env)
    assert removed.returncode == 0, removed.stderr
    assert json.loads(store.read_text()) == {}
    assert open_auth_key(plain.path, passphrase=PASSPHRASE) == plain.auth_key


def test_add_key_keyring_with_a_service(encrypted: Fixture, tmp_path: Path, pwfile: Path) -> None:
    store = tmp_path / "keyring.json"
    env = cli_env(
        PYTHON_KEYRING_BACKEND="tests.cli_keyring.FileKeyring", VAULT_TEST_KEYRING=str(store)
    )
    added = run_cli(
        "add-key", encrypted.path, "keyring", "--service", "my-bot", "--passphrase-file", pwfile,
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "2 key slots: passphrase, keyring" in added.stdout
    [entry] = json.loads(store.read_text())
    assert entry.startswith("my-bot/vault-")
    # The keyring alone now opens it: no passphrase source given, no terminal.
    info = run_cli("export", encrypted.path, "--keyring", env=env)
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith("vault1:")


def test_unsafe_keyring_is_refused(plain: Fixture) -> None:
    before = session_files(plain.path)
    env = cli_env(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    result = run_cli("encrypt", plain.path, "--keyring", env=env)
    _assert_clean_failure(result, 8, "instead of --keyring")
    assert "keyring=True" not in result.stderr  # the CLI speaks of its flags, not of Python
    assert session_files(plain.path) == before


# --- the verified copy behind every file change --------------------------------------------


async def test_a_copy_that_fails_verification_never_replaces_the_file(tmp_path: Path) -> None:
    """``rewrite`` with a change that breaks the key (a real wrong write, not a stub) and the
    real check: the original stays byte for byte, no temporary is left."""
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    before = session_files(fixture.path)

    async def break_key(temp: Path) -> None:
        with contextlib.closing(sqlite3.connect(temp)) as db:
            db.execute("UPDATE sessions SET auth_key = ?", (os.urandom(256),))
            db.commit()

    async def verify(temp: Path) -> None:
        await check_same_key(temp, "account", fixture.auth_key)

    with pytest.raises(CliError, match="left unchanged"):
        await rewrite(fixture.path, break_key, verify)
    assert session_files(fixture.path) == before
    assert leftovers(tmp_path) == []

    async def nothing(temp: Path) -> None:
        pass

    # The copy still holds the plaintext key: the scan refuses it.
    with pytest.raises(CliError, match="still found"):
        await rewrite(fixture.path, nothing, nothing, forbidden=fixture.auth_key)
    assert session_files(fixture.path) == before
    assert leftovers(tmp_path) == []
