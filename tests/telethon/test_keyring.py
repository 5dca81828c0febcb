"""The keyring slot on a Telethon session (runs where keyring is installed: the main suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("telethon")
pytest.importorskip("keyring")

from ..encrypted_helpers import DictKeyring, installed_keyring
from .helpers import AUTH_KEY, encrypted, logged_in


def test_keyring_slot_opens_and_log_out_removes_its_entry(tmp_path: Path) -> None:
    with installed_keyring(DictKeyring()) as backend:
        logged_in(encrypted(tmp_path / "acct", keyring="vault-telethon-test")).close()
        assert len(backend.entries) == 1
        session = encrypted(tmp_path / "acct", keyring="vault-telethon-test")
        assert session.auth_key.key == AUTH_KEY
        assert [slot.kind.name for slot in session.key_slots] == ["KEYRING"]
        session.delete()
        assert backend.entries == {}
