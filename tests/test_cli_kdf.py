"""The CLI's --kdf-* options against the library's KDF work budget: costs that an unlock with
the default budget could not open again are a usage error, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cli_helpers import error_lines, run_cli, vault_fixture
from .tampering import session_files

PASSPHRASE = "a long enough passphrase"


@pytest.mark.parametrize(
    "costs",
    [["--kdf-memory-kib", str(256 * 1024 + 8)], ["--kdf-time-cost", "13"]],
    ids=["memory", "work"],
)
def test_kdf_options_beyond_the_unlock_budget_are_refused(tmp_path: Path, costs: list[str]) -> None:
    fixture = vault_fixture(tmp_path)
    pwfile = tmp_path / "pw.txt"
    pwfile.write_text(PASSPHRASE + "\n")
    before = session_files(fixture.path)
    result = run_cli("encrypt", fixture.path, "--passphrase-file", pwfile, *costs)
    assert result.returncode == 2, result.stderr
    [line] = error_lines(result)
    assert "--kdf-memory-kib is at most 262144" in line and "786432" in line
    assert "Traceback" not in result.stderr
    assert session_files(fixture.path) == before
