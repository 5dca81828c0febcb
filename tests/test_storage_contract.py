"""The public contract suite itself: a third-party project can run it, and it can fail.

Each check runs ``vault.testing.StorageContract`` in a separate pytest process, in a project
with no configuration at all (pytest-asyncio in its default strict mode), over the docs-only
backend of ``tests/third_party`` or one of its deliberately broken variants.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

_PROJECT_TESTS = """
import pytest

from vault.testing import StorageContract
from tests.third_party.{module} import {cls}


@pytest.fixture
def server():
    return {{}}


class TestBackend(StorageContract):
    fixtures = ("server",)

    def make_storage(self, name):
        return {cls}(name, self.fixture("server"))
"""


def run_contract(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module: str, cls: str
) -> tuple[dict[str, int], set[str]]:
    """Outcome counts of the sub-run, and the names of the contract tests that failed."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_backend=_PROJECT_TESTS.format(module=module, cls=cls))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    failed = set(re.findall(r"^FAILED \S+::TestBackend::(\w+)", result.stdout.str(), re.M))
    return result.parseoutcomes(), failed


def test_a_backend_written_from_the_docs_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, failed = run_contract(pytester, monkeypatch, "dict_storage", "DictStorage")
    assert failed == set()
    assert set(outcomes) == {"passed"}, outcomes
    # Every test ran, plain and encrypted: as many as the contract class has, twice.
    assert outcomes["passed"] >= 2 * 30


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (
            "IgnoresTTL",
            {"test_username_expires_after_ttl", "test_extra_usernames_resolve_and_are_replaced"},
        ),
        (
            "NoneForMissing",
            {"test_missing_peer_raises_key_error", "test_delete_forgets_the_session"},
        ),
        ("ForgetsOnReopen", {"test_data_survives_reopen_without_save"}),
    ],
)
def test_a_broken_backend_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, cls: str, expected: set[str]
) -> None:
    outcomes, failed = run_contract(pytester, monkeypatch, "broken", cls)
    assert failed == expected
    assert outcomes["failed"] >= 2 * len(expected)  # in the plain and the encrypted run


def test_import_vault_does_not_import_pytest() -> None:
    code = "import sys, vault, vault.storage; print('pytest' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
