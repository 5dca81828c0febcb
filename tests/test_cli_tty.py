"""The interactive prompts of ``session-vault``, typed into a real pseudo-terminal (pexpect):
the passphrase is asked without echo, twice when new, and never appears on the screen."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .cli_helpers import (
    CHEAP,
    ROOT,
    Fixture,
    cli_env,
    open_auth_key,
    telethon_string,
    vault_fixture,
)
from .tampering import session_files

pexpect = pytest.importorskip("pexpect")

PASSPHRASE = "typed at the prompt 42"


def spawn(*args: str | Path) -> object:
    """``python -m vault ARGS`` on a new pseudo-terminal (its controlling terminal)."""
    env = cli_env()
    return pexpect.spawn(
        sys.executable,
        ["-m", "vault", *map(str, args)],
        env=env,
        cwd=str(ROOT),
        encoding="utf-8",
        timeout=60,
        echo=True,
    )


@pytest.fixture
def plain(tmp_path: Path) -> Fixture:
    return vault_fixture(tmp_path)


def finish(child: object) -> tuple[str, int]:
    """Everything the child printed until it exited, and its exit status."""
    child.expect(pexpect.EOF)  # type: ignore[attr-defined]
    child.close()  # type: ignore[attr-defined]
    return child.before, child.exitstatus  # type: ignore[attr-defined]


def test_encrypt_prompts_twice_without_echo(plain: Fixture) -> None:
    child = spawn("encrypt", plain.path, *CHEAP)
    child.expect("New passphrase: ")  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    child.expect("Repeat new passphrase: ")  # type: ignore[attr-defined]
    screen = child.before  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 0, rest
    assert "encrypted" in rest
    assert PASSPHRASE not in screen + rest
    assert open_auth_key(plain.path, passphrase=PASSPHRASE) == plain.auth_key


def test_passwd_prompts_for_the_old_and_twice_for_the_new(plain: Fixture) -> None:
    child = spawn("encrypt", plain.path, *CHEAP)
    for prompt in ("New passphrase: ", "Repeat new passphrase: "):
        child.expect(prompt)  # type: ignore[attr-defined]
        child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    assert finish(child)[1] == 0
    new = "the second one, typed 43"
    child = spawn("passwd", plain.path, *CHEAP)
    screen = ""
    for prompt, answer in (
        ("Passphrase: ", PASSPHRASE),
        ("New passphrase: ", new),
        ("Repeat new passphrase: ", new),
    ):
        child.expect(prompt)  # type: ignore[attr-defined]
        screen += child.before  # type: ignore[attr-defined]
        child.sendline(answer)  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 0, rest
    assert PASSPHRASE not in screen + rest and new not in screen + rest
    assert open_auth_key(plain.path, passphrase=new) == plain.auth_key


def answer(child: object, *pairs: tuple[str, str]) -> None:
    """Wait for each prompt and type its answer."""
    for prompt, text in pairs:
        child.expect(prompt)  # type: ignore[attr-defined]
        child.sendline(text)  # type: ignore[attr-defined]


def test_mismatched_passphrases_are_asked_again(plain: Fixture) -> None:
    child = spawn("encrypt", plain.path, *CHEAP)
    answer(child, ("New passphrase: ", PASSPHRASE), ("Repeat new passphrase: ", PASSPHRASE + "x"))
    child.expect("did not match; try again")  # type: ignore[attr-defined]
    answer(child, ("New passphrase: ", PASSPHRASE), ("Repeat new passphrase: ", PASSPHRASE))
    rest, status = finish(child)
    assert status == 0, rest
    assert PASSPHRASE not in rest
    assert open_auth_key(plain.path, passphrase=PASSPHRASE) == plain.auth_key


def test_mismatched_passphrases_three_times_change_nothing(plain: Fixture) -> None:
    before = session_files(plain.path)
    child = spawn("encrypt", plain.path, *CHEAP)
    for attempt in range(3):
        answer(
            child,
            ("New passphrase: ", PASSPHRASE),
            ("Repeat new passphrase: ", f"{PASSPHRASE}{attempt}"),
        )
    rest, status = finish(child)
    assert status == 2
    assert "no new passphrase after 3 attempts" in rest
    assert PASSPHRASE not in rest
    assert session_files(plain.path) == before


def test_first_ctrl_c_at_a_prompt_aborts(plain: Fixture) -> None:
    before = session_files(plain.path)
    child = spawn("encrypt", plain.path, *CHEAP)
    child.expect("New passphrase: ")  # type: ignore[attr-defined]
    child.sendintr()  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 130, rest
    assert "interrupted" in rest
    assert session_files(plain.path) == before


def test_weak_passphrase_is_judged_and_needs_a_yes(plain: Fixture) -> None:
    """zxcvbn's verdict is shown; a "no" asks again, a "yes" takes the weak one."""
    child = spawn("encrypt", plain.path, *CHEAP)
    answer(child, ("New passphrase: ", "abc"), ("Repeat new passphrase: ", "abc"))
    child.expect("warning: weak passphrase: it could be guessed in less than a second")  # type: ignore[attr-defined]
    answer(
        child,
        (r"Use this weak passphrase anyway\? \[y/N\] ", "n"),
        ("New passphrase: ", "abc123"),
        ("Repeat new passphrase: ", "abc123"),
        (r"anyway\? \[y/N\] ", "y"),
    )
    rest, status = finish(child)
    assert status == 0, rest
    assert open_auth_key(plain.path, passphrase="abc123") == plain.auth_key


def test_a_strong_passphrase_gets_no_warning(plain: Fixture) -> None:
    child = spawn("encrypt", plain.path, *CHEAP)
    answer(child, ("New passphrase: ", PASSPHRASE), ("Repeat new passphrase: ", PASSPHRASE))
    rest, status = finish(child)
    assert status == 0, rest
    assert "weak passphrase" not in rest and "anyway" not in rest


def test_unlock_prompt_and_hidden_session_string(plain: Fixture, tmp_path: Path) -> None:
    """export asks once for the passphrase; import reads the pasted string without echo."""
    key = tmp_path / "kms.key"
    key.write_bytes(os.urandom(32))
    child = spawn("encrypt", plain.path, "--key-file", key)
    rest, status = finish(child)
    assert status == 0, rest

    child = spawn("export", plain.path, "--plain", "--key-file", key)
    exported, status = finish(child)
    assert status == 0, exported
    session_string = exported.strip().splitlines()[-1]

    out = tmp_path / "imported.session"
    child = spawn("import", "--out", out, *CHEAP)
    child.expect("input is hidden")  # type: ignore[attr-defined]
    child.sendline(session_string)  # type: ignore[attr-defined]
    child.expect("New passphrase: ")  # type: ignore[attr-defined]
    screen = child.before  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    child.expect("Repeat new passphrase: ")  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 0, rest
    assert session_string not in screen + rest
    assert open_auth_key(out, passphrase=PASSPHRASE) == plain.auth_key

    child = spawn("export", out)
    child.expect("Passphrase: ")  # type: ignore[attr-defined]
    child.sendline("wrong")  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 3
    assert "does not unlock" in rest


def test_telethon_import_asks_for_what_the_string_lacks(tmp_path: Path) -> None:
    auth_key = os.urandom(256)
    text = telethon_string(2, "149.154.167.51", auth_key)
    out = tmp_path / "moved.session"
    child = spawn("import", "--out", out, *CHEAP)
    child.expect("input is hidden")  # type: ignore[attr-defined]
    child.sendline(text)  # type: ignore[attr-defined]
    child.expect("no api id; enter it: ")  # type: ignore[attr-defined]
    child.sendline("2040")  # type: ignore[attr-defined]
    child.expect("no user id; enter it: ")  # type: ignore[attr-defined]
    child.sendline("5000000042")  # type: ignore[attr-defined]
    child.expect("New passphrase: ")  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    child.expect("Repeat new passphrase: ")  # type: ignore[attr-defined]
    child.sendline(PASSPHRASE)  # type: ignore[attr-defined]
    rest, status = finish(child)
    assert status == 0, rest
    assert open_auth_key(out, passphrase=PASSPHRASE) == auth_key


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    fixtures = [vault_fixture(folder, name=f"acc{i}") for i in range(3)]
    pwfile = tmp_path / "pw"
    pwfile.write_text(PASSPHRASE)
    rest, status = finish(spawn("encrypt", folder, "--passphrase-file", pwfile, *CHEAP))
    assert status == 0, rest
    assert "] 2/3 " in rest and rest.count("encrypted ") == 3
    for fixture in fixtures:
        assert open_auth_key(fixture.path, passphrase=PASSPHRASE) == fixture.auth_key


def test_import_of_an_encrypted_string_asks_for_its_own_passphrase(
    plain: Fixture, tmp_path: Path
) -> None:
    """A vault1: string is opened with the passphrase it has: asked once, in those words."""
    child = spawn("encrypt", plain.path, *CHEAP)
    answer(child, ("New passphrase: ", PASSPHRASE), ("Repeat new passphrase: ", PASSPHRASE))
    assert finish(child)[1] == 0
    child = spawn("export", plain.path)
    answer(child, ("Passphrase: ", PASSPHRASE))
    exported, status = finish(child)
    assert status == 0, exported
    encrypted = exported.strip().splitlines()[-1]
    assert encrypted.startswith("vault1:")

    out = tmp_path / "from-string.session"
    child = spawn("import", "--out", out)
    answer(
        child,
        ("input is hidden", encrypted),
        ("Passphrase of the encrypted string: ", PASSPHRASE),
    )
    rest, status = finish(child)
    assert status == 0, rest
    assert "New passphrase" not in rest and "Repeat" not in rest
    assert open_auth_key(out, passphrase=PASSPHRASE) == plain.auth_key
