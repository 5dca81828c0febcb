"""A copied or renamed encrypted file: refused by every command that opens it, with the CLI's
way out named (``--rebind``), which opens it and seals it for its new name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .cli_helpers import CHEAP, cli_env, client_fixture, error_lines, open_auth_key, run_cli

PASSPHRASE = "copied on purpose"


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Path, Path, bytes]:
    """``(password file, copy, auth key)``: an encrypted session copied to another name."""
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSPHRASE)
    fixture = client_fixture("pyrofork-2.3.69", tmp_path)
    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *CHEAP)
    assert result.returncode == 0, result.stderr
    copy = tmp_path / "copy.session"
    shutil.copyfile(fixture.path, copy)
    return pwfile, copy, fixture.auth_key


@pytest.mark.parametrize(
    "command",
    [
        ["export"],
        ["decrypt", "--confirm-plaintext"],
        ["passwd", "--new-passphrase-env", "NEW"],
        ["add-key", "raw-key", "--new-key-env", "RAW"],
        ["remove-key", "0"],
    ],
    ids=lambda c: c[0],
)
def test_a_copy_is_refused_with_the_flag_named(
    copied: tuple[Path, Path, bytes], command: list[str]
) -> None:
    pwfile, copy, _ = copied
    before = copy.read_bytes()
    # The new secrets are there: a missing one is reported before any session is opened.
    env = cli_env(NEW="a new passphrase of some length", RAW="11" * 32)
    result = run_cli(command[0], copy, *command[1:], "--passphrase-file", pwfile, env=env)
    assert result.returncode == 6, result.stderr
    [line] = error_lines(result)
    assert "sealed for another session name" in line and "--rebind" in line
    assert "rebind=True" not in line
    assert copy.read_bytes() == before


def test_rebind_opens_the_copy_and_seals_it_for_its_name(
    copied: tuple[Path, Path, bytes],
) -> None:
    pwfile, copy, auth_key = copied
    exported = run_cli("export", copy, "--passphrase-file", pwfile, "--rebind")
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("vault1:")
    added = run_cli(
        "add-key", copy, "passphrase", "--passphrase-file", pwfile, "--rebind",
        "--new-passphrase-env", "NEW", *CHEAP,
        env=cli_env(NEW="second one"),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    # Sealed for its own name now: opens without rebind, in the library and the CLI.
    assert open_auth_key(copy, passphrase=PASSPHRASE) == auth_key
    assert open_auth_key(copy, passphrase="second one") == auth_key
    again = run_cli("export", copy, "--passphrase-file", pwfile)
    assert again.returncode == 0, again.stderr
