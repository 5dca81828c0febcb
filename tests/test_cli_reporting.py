"""How ``session-vault`` reports: ``--json`` as one document per run, failures included; the
exit-code table once; errors before any file reported once; directories without sessions;
a directory the command cannot write in."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .cli_helpers import CHEAP, ROOT, cli_env, error_lines, open_auth_key, run_cli, vault_fixture
from .tampering import session_files

PASSPHRASE = "reported once, in one document 7"


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


def _document(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)  # the whole stdout is one document
    assert document["exit_code"] == result.returncode
    return document


def test_json_is_one_document_with_every_outcome(tmp_path: Path, pwfile: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    good = [vault_fixture(sessions, name).path for name in ("a", "b")]
    broken = sessions / "c.session"
    broken.write_bytes(b"not a database at all, just bytes" * 10)

    result = run_cli("encrypt", sessions, "--passphrase-file", pwfile, *CHEAP, "--json")
    document = _document(result)
    assert document["command"] == "encrypt" and document["error"] is None
    assert result.returncode == 6
    by_target = {entry["target"]: entry for entry in document["results"]}
    assert set(by_target) == {str(p) for p in (*good, broken)}
    for path in good:
        assert by_target[str(path)]["ok"] is True
        assert by_target[str(path)]["output"].startswith(f"encrypted {path}")
    assert by_target[str(broken)] == {
        "target": str(broken),
        "ok": False,
        "error": {"exit_code": 6, "message": by_target[str(broken)]["error"]["message"]},
    }
    assert "not an SQLite database" in by_target[str(broken)]["error"]["message"]
    assert "error:" not in result.stderr  # the failure is in the document

    result = run_cli("info", "--json", *good)
    document = _document(result)
    assert result.returncode == 0
    assert [entry["info"]["path"] for entry in document["results"]] == [str(p) for p in good]
    assert all(entry["info"]["encrypted"] for entry in document["results"])


def test_json_document_for_a_failure_before_any_session(tmp_path: Path) -> None:
    plain = vault_fixture(tmp_path)
    result = run_cli("decrypt", plain.path, "--json")
    document = _document(result)
    assert result.returncode == 2 and document["results"] == []
    assert document["command"] == "decrypt"
    assert "--confirm-plaintext" in document["error"]["message"]


def test_json_for_a_string_command(tmp_path: Path, pwfile: Path) -> None:
    plain = vault_fixture(tmp_path)
    exported = run_cli("export", plain.path, "--passphrase-file", pwfile, *CHEAP, "--json")
    [entry] = _document(exported)["results"]
    assert entry["target"] == str(plain.path) and entry["output"].startswith("vault1:")
    decrypted = run_cli(
        "string", "decrypt", "--passphrase-file", pwfile, "--json", stdin=entry["output"]
    )
    [entry] = _document(decrypted)["results"]
    assert entry["target"] == "-" and not entry["output"].startswith("vault1:")


def test_missing_passphrase_variable_is_reported_once_before_any_file(tmp_path: Path) -> None:
    sessions = [vault_fixture(tmp_path, name) for name in ("a", "b", "c")]
    before = [session_files(s.path) for s in sessions]
    result = run_cli("encrypt", tmp_path, "--passphrase-env", "NOT_SET_ANYWHERE", *CHEAP)
    assert result.returncode == 2
    assert error_lines(result) == [
        "session-vault: error: the environment variable NOT_SET_ANYWHERE is not set"
    ]
    assert result.stdout == ""
    assert [session_files(s.path) for s in sessions] == before


@pytest.mark.parametrize("command", ["encrypt", "info", "decrypt"])
def test_a_directory_without_sessions_is_an_error(
    tmp_path: Path, pwfile: Path, command: str
) -> None:
    empty = tmp_path / "empty"
    (empty / "deeper").mkdir(parents=True)
    extra = {
        "encrypt": ["--passphrase-file", str(pwfile), *CHEAP],
        "decrypt": ["--passphrase-file", str(pwfile), "--confirm-plaintext"],
        "info": [],
    }[command]
    result = run_cli(command, empty, *extra)
    assert result.returncode == 4, result.stderr
    [line] = error_lines(result)
    assert f"no session files (*.session) in {empty}" in line
    assert ("add -r" in line) == (command == "encrypt")


def test_exit_codes_are_listed_once_in_the_top_level_help() -> None:
    top = run_cli("--help")
    assert top.returncode == 0 and "exit codes:" in top.stdout
    assert "3  wrong passphrase or key" in top.stdout
    for command in (["encrypt"], ["info"], ["remove-key"], ["string", "encrypt"]):
        sub = run_cli(*command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "wrong passphrase or key" not in sub.stdout
        assert "Exit codes: see `session-vault --help`." in sub.stdout
        assert "--json" in sub.stdout


def _in_read_only_directory(*args: str | Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """``python -m vault ARGS`` with ``directory`` bind-mounted read-only (a real EROFS
    directory: the tests run as root, whom file modes do not stop)."""
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, str(directory), sys.executable, "-m", "vault"]
        + [str(a) for a in args],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
        timeout=120,
        start_new_session=True,
        check=False,
    )


def test_read_only_directory_names_the_users_path(tmp_path: Path, pwfile: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    probe = _in_read_only_directory("--version", directory=tmp_path)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only bind mount here: {probe.stderr.strip()}")
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    plain = vault_fixture(sessions)
    before = session_files(plain.path)
    result = _in_read_only_directory(
        "encrypt", plain.path, "--passphrase-file", pwfile, *CHEAP, directory=sessions
    )
    assert result.returncode == 1
    [line] = error_lines(result)
    assert f"cannot change {plain.path}: its directory {sessions} is not writable" in line
    assert "vault-tmp" not in result.stderr
    assert session_files(plain.path) == before
    assert open_auth_key(plain.path) == plain.auth_key
