"""The documentation runs as written.

- Python blocks starting with ``# example:`` in docs/*.md run and print something.
- Every shell command in the ```bash / ```sh / ```console blocks of README.md and docs/*.md
  runs, after the README's set-up (``bash scripts/demo.sh``, then ``source .venv/bin/activate``),
  in a fresh temporary directory per page (the commands of one page run in order there, as a
  reader follows them). Prompts are answered on a real pseudo-terminal. The few commands that
  cannot run here are listed in ``NOT_RUN`` with the reason, and get a dry run instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points, metadata, requires
from pathlib import Path

import pexpect
import pytest

from vault.session_string import decode_session_string

from .cli_helpers import client_fixture, telethon_string

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
VENV_BIN = Path(sys.executable).parent
BLOCK = re.compile(r"```python\n(# example: (.+?)\n.*?)```", re.DOTALL)
SHELL_BLOCK = re.compile(r"^```(bash|sh|console)\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]

#: What the pages assume the reader has (see ``reader_dir``): one passphrase for every prompt.
PASSPHRASE = "the docs' walk-through passphrase, long enough"


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for match in BLOCK.finditer(page.read_text()):
            found.append((f"{page.name}: {match.group(2)}", match.group(1)))
    return found


EXAMPLES = examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stderr}"
    assert result.stdout.strip(), f"{name} printed nothing"


def test_readme_demo_runs_and_shows_no_secret(tmp_path: Path) -> None:
    demo = DOCS.parent / "examples" / "demo.py"
    result = subprocess.run(
        [sys.executable, str(demo)],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("intact: True") == 3
    assert "auth key present in the raw file: False" in out
    assert "mode 600" in out
    # Secrets are shown only as short fingerprints: no long base64 or hex runs.
    assert not re.search(r"[A-Za-z0-9_-]{60,}", out)


# --- shell commands ------------------------------------------------------------------------------


def shell_commands(text: str) -> list[str]:
    """The commands of a page's shell blocks, in order: in ```console blocks the lines after
    ``$ `` (output lines are skipped), in ```bash/```sh blocks every line that is not a
    comment; a trailing backslash continues a command, and a trailing ``# comment`` is dropped."""
    commands = []
    for kind, body in SHELL_BLOCK.findall(text):
        current: str | None = None
        for line in body.splitlines():
            if current is not None:
                current += " " + line.strip()
            elif kind == "console":
                if not line.startswith("$ "):
                    continue
                current = line[2:]
            elif line.strip() and not line.lstrip().startswith("#"):
                current = line
            else:
                continue
            if current.endswith("\\"):
                current = current[:-1].rstrip()
                continue
            commands.append(re.sub(r"\s+# .*$", "", current).strip())
            current = None
    return commands


def dry_run_cli(command: str) -> None:
    """Parse a ``session-vault`` command line with the CLI's own parser, running nothing."""
    from vault.cli.app import build_parser  # noqa: PLC0415

    words = shlex.split(command)
    assert words[0] == "session-vault"
    try:
        build_parser().parse_args(words[1:])
    except SystemExit as stop:  # argparse's way to say "usage error"
        pytest.fail(f"{command!r} does not parse (exit {stop.code})")


def dry_run_help(command: str) -> None:
    """Run the command's program and subcommand with ``--help`` (from the checkout)."""
    words = shlex.split(command)
    stop = next((i for i, w in enumerate(words) if w.startswith("-")), len(words))
    run_shell(shlex.join([*words[:stop], "--help"]), cwd=ROOT)


def dry_run_pip(command: str) -> None:
    """``pip install`` lines install this checkout (no index serves session-vault) with extras
    that the package defines."""
    words = shlex.split(command)
    assert words[:2] == ["pip", "install"], command
    spec = [w for w in words[2:] if not w.startswith("-")]
    assert len(spec) == 1, command
    match = re.fullmatch(r"\.(?:\[([a-z,]+)\])?", spec[0])
    assert match, f"{command!r} does not install the checkout ('.' or '.[extras]')"
    defined = metadata("session-vault").get_all("Provides-Extra") or []
    for extra in filter(None, (match.group(1) or "").split(",")):
        assert extra in defined, f"{command!r}: pyproject.toml has no extra {extra!r}"


def dry_run_script(command: str) -> None:
    """A ``python examples/...`` script exists and compiles."""
    script = next(w for w in shlex.split(command) if w.endswith(".py"))
    run_shell(f"python -m py_compile {shlex.quote(script)}", cwd=ROOT)


ACTIVATE = "source .venv/bin/activate"
COLLECT_ONLY = "--collect-only -q -p no:cacheprovider"

#: Commands not run here, and why; each gets the dry run named. Keep this list short.
NOT_RUN: dict[str, tuple[str, Callable[[str], None]]] = {
    # The whole CI: it is what runs this test (a syntax check only).
    "bash scripts/test.sh": ("runs this test", lambda c: run_shell("bash -n scripts/test.sh")),
    # A server that runs until stopped; tests/test_docs_site.py builds and checks the site.
    "mkdocs serve": ("serves until stopped", dry_run_help),
    # Installing into the test's own environment would change it under the running suite.
    "pip install": ("changes the test environment", dry_run_pip),
    # All compatibility sessions (minutes; scripts/test.sh runs them).
    "nox": ("installs five clients", dry_run_help),
    # Needs a Redis server at that URL; tests/test_redis_example.py runs this very script.
    "REDIS_URL=": ("needs a Redis server", dry_run_script),
    # Part of the suite that is running now.
    "python -m pytest": ("part of this suite", lambda c: run_shell(f"{c} {COLLECT_ONLY}")),
    # The example's MongoDB server (db.internal) does not exist here; tests/test_cli_mongo.py
    # runs these commands against a real server.
    "session-vault encrypt --mongo-uri": ("needs a MongoDB server", dry_run_cli),
    "session-vault info --mongo-uri": ("needs a MongoDB server", dry_run_cli),
    "session-vault export --mongo-uri": ("needs a MongoDB server", dry_run_cli),
}


def not_run(command: str) -> Callable[[str], None] | None:
    for prefix, (_, dry_run) in NOT_RUN.items():
        if command.startswith(prefix):
            return dry_run
    return None


@dataclass
class Page:
    name: str
    commands: list[str]


PAGE_COMMANDS = [Page(p.name, shell_commands(p.read_text())) for p in PAGES]
PAGE_COMMANDS = [p for p in PAGE_COMMANDS if p.commands]


def reader_env(home: Path | None = None, *, activated: bool = True) -> dict[str, str]:
    """The environment of a reader who ran the set-up and, if ``activated``,
    ``source .venv/bin/activate``."""
    home = home or Path.home()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VAULT_"))}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env.pop("VIRTUAL_ENV", None)
    if activated:
        path.insert(0, str(VENV_BIN))
        env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    env.update(
        PATH=os.pathsep.join(path),
        HOME=str(home),
        VAULT_PASSPHRASE=PASSPHRASE,
        # The test keyring of the CLI tests (a real keyring backend, in a file of this test).
        PYTHONPATH=str(ROOT),
        PYTHON_KEYRING_BACKEND="tests.cli_keyring.FileKeyring",
        VAULT_TEST_KEYRING=str(home / "keyring.json"),
        TERM="dumb",
    )
    return env


def run_shell(command: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run ``command`` with bash on a pseudo-terminal, answering every passphrase prompt;
    fail unless it exits 0. Returns what it printed."""
    child = pexpect.spawn(
        "bash",
        ["-c", command],
        cwd=str(cwd),
        env=env or reader_env(),
        encoding="utf-8",
        timeout=180,
    )
    while child.expect([r"(?i)passphrase: ?$", pexpect.EOF]) == 0:
        child.sendline(PASSPHRASE)
    child.close()
    out = child.before or ""
    assert child.exitstatus == 0, f"{command!r} exited {child.exitstatus}:\n{out[-3000:]}"
    return out


def reader_dir(directory: Path) -> None:
    """What the pages assume a reader has: a plaintext session ``my_account.session``, a
    ``sessions/`` folder (one plaintext and one encrypted session), a passphrase file
    ``~/.config/vault-pass``, ``VAULT_PASSPHRASE`` (see ``reader_env``) and session strings
    ``plain.txt`` (Pyrogram's) and ``telethon.txt`` (Telethon's)."""
    fixture = client_fixture("pyrofork-2.3.69", directory, "my_account")
    (directory / "sessions").mkdir()
    client_fixture("pyrofork-2.3.69", directory / "sessions", "alice")
    client_fixture("pyrogram-2.0.106", directory / "sessions", "bob")
    (directory / ".config").mkdir()
    (directory / ".config" / "vault-pass").write_text(PASSPHRASE + "\n")
    run_shell(
        "session-vault encrypt sessions/bob.session --passphrase-env VAULT_PASSPHRASE",
        cwd=directory,
        env=reader_env(directory),
    )
    meta = json.loads((ROOT / "tests" / "data" / "pyrofork-2.3.69.json").read_text())
    string = meta["session_string"]
    assert decode_session_string(string).auth_key == fixture.auth_key
    (directory / "plain.txt").write_text(string + "\n")
    address = "149.154.167.91"  # Telegram's public address of dc 4, where the fixture lives
    (directory / "telethon.txt").write_text(telethon_string(4, address, fixture.auth_key) + "\n")


def in_checkout(command: str) -> bool:
    """Commands that name files of the checkout run there, as the README says."""
    return bool(re.search(r"(^|\s)(\.venv/|scripts/|examples/|tests/)", command))


def test_the_pages_have_commands() -> None:
    names = {p.name for p in PAGE_COMMANDS}
    assert {"README.md", "cli.md"} <= names
    assert sum(len(p.commands) for p in PAGE_COMMANDS) >= 20


def test_every_allow_listed_command_is_in_the_docs() -> None:
    commands = [c for p in PAGE_COMMANDS for c in p.commands]
    unused = [prefix for prefix in NOT_RUN if not any(c.startswith(prefix) for c in commands)]
    assert not unused, f"NOT_RUN lists commands no page has any more: {unused}"


@pytest.mark.parametrize("page", PAGE_COMMANDS, ids=[p.name for p in PAGE_COMMANDS])
def test_page_commands_run_as_written(page: Page, tmp_path: Path) -> None:
    reader_dir(tmp_path)
    # The README tells the reader to activate the environment; the other pages assume it.
    env = reader_env(tmp_path, activated=page.name != "README.md")
    for command in page.commands:
        dry_run = not_run(command)
        if dry_run is not None:
            dry_run(command)
        else:
            run_shell(command, cwd=ROOT if in_checkout(command) else tmp_path, env=env)
        if command == ACTIVATE:
            env = reader_env(tmp_path)


def test_the_demo_installs_what_the_readme_commands_run() -> None:
    """The README's commands run in the environment ``bash scripts/demo.sh`` makes, which has
    only the extras it names (the test environment has more): each program they call from
    ``.venv/bin`` must come from the package or a direct requirement of those extras."""
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    extras = re.search(r"VAULT_EXTRAS=(\S+)", demo)
    assert extras, "scripts/demo.sh names no VAULT_EXTRAS"
    pattern = re.compile(r"^([A-Za-z0-9._-]+)[^;]*;\s*extra\s*==\s*['\"]([a-z]+)['\"]")
    installed = {"session-vault"}
    for requirement in requires("session-vault") or []:
        match = pattern.match(requirement)
        if match and match.group(2) in extras.group(1).split(","):
            installed.add(match.group(1).lower())
    scripts = {ep.name: ep for ep in entry_points(group="console_scripts")}
    readme = next(p for p in PAGE_COMMANDS if p.name == "README.md")
    called = {shlex.split(c)[0] for c in readme.commands} & set(scripts)
    assert "session-vault" in called and "mkdocs" in called
    for program in called:
        dist = scripts[program].dist
        assert dist is not None and dist.name.lower() in installed, (
            f"README runs {program}, which scripts/demo.sh does not install"
        )
