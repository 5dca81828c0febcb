"""The documentation's runnable examples run as written (blocks starting with ``# example:``)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(# example: (.+?)\n.*?)```", re.DOTALL)


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
