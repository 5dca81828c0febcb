"""Keyring slots against real keyring backends: an in-process ``KeyringBackend`` subclass
registered with ``keyring.set_keyring`` (the keyring module itself is not mocked), keyring's own
fail/null backends and keyrings.alt's plaintext one (refused), and a real SecretService
(gnome-keyring in a private D-Bus session) when the machine has it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF
from vault.crypto.slots import KeyringSlot
from vault.errors import KeyringUnavailableError, WrongKeyError
from vault.storage import FileStorage

from .encrypted_helpers import DictKeyring, log_in
from .tampering import session_files

keyring = pytest.importorskip("keyring")
from keyring.backends import fail, null  # noqa: E402
from keyring.errors import PasswordSetError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class LockedKeyring(DictKeyring):
    """A backend whose collection is locked: it refuses to store anything."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("collection is locked")


@pytest.fixture
def use_keyring() -> Iterator[Any]:
    previous = keyring.get_keyring()

    def install(backend: Any) -> Any:
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def backend(use_keyring: Any) -> DictKeyring:
    return use_keyring(DictKeyring())  # type: ignore[no-any-return]


def storage(workdir: Path, **kwargs: Any) -> EncryptedStorage:
    return EncryptedStorage(FileStorage("desk", workdir=workdir), kdf=CHEAP_KDF, **kwargs)


async def test_keyring_only_session(backend: DictKeyring, tmp_path: Path) -> None:
    s = storage(tmp_path, keyring=True)
    await s.open()
    assert backend.entries == {}  # nothing stored until there is something to protect
    key = await log_in(s)
    (slot,) = s.key_slots
    await s.close()
    assert isinstance(slot, KeyringSlot) and slot.service == "session-vault"
    ((service, username),) = backend.entries
    assert service == "session-vault" and username.startswith("vault-")
    assert key.hex() not in str(backend.entries)

    s = storage(tmp_path, keyring=True)
    await s.open()
    assert await s.auth_key() == key
    await s.delete()
    assert backend.entries == {}


async def test_missing_entry_is_a_wrong_key_and_changes_nothing(
    backend: DictKeyring, tmp_path: Path
) -> None:
    s = storage(tmp_path, keyring="my-service")
    await s.open()
    await log_in(s)
    await s.close()
    assert [service for service, _ in backend.entries] == ["my-service"]
    backend.entries.clear()
    before = session_files(tmp_path / "desk.session")
    with pytest.raises(WrongKeyError):
        await storage(tmp_path, keyring=True).open()
    assert session_files(tmp_path / "desk.session") == before


async def test_passphrase_still_opens_without_the_keyring_entry(
    backend: DictKeyring, tmp_path: Path
) -> None:
    s = storage(tmp_path, keyring=True, passphrase="pw")
    await s.open()
    key = await log_in(s)
    await s.close()
    backend.entries.clear()
    s = storage(tmp_path, keyring=True, passphrase="pw")
    await s.open()
    assert await s.auth_key() == key
    await s.close()


async def test_add_and_remove_a_keyring_slot(backend: DictKeyring, tmp_path: Path) -> None:
    s = storage(tmp_path, passphrase="pw")
    await s.open()
    key = await log_in(s)
    await s.add_keyring()
    await s.close()
    assert len(backend.entries) == 1

    s = storage(tmp_path, keyring=True)
    await s.open()
    assert await s.auth_key() == key
    # Removing rotates the data key: the passphrase slot kept needs its passphrase to re-wrap.
    await s.slots.cover(passphrase="pw")
    await s.remove_slot(1)
    await s.close()
    assert backend.entries == {}
    with pytest.raises(WrongKeyError):
        await storage(tmp_path, keyring=True).open()


async def test_locked_keyring_stores_nothing(use_keyring: Any, tmp_path: Path) -> None:
    use_keyring(LockedKeyring())
    s = storage(tmp_path, keyring=True)
    await s.open()
    with pytest.raises(KeyringUnavailableError, match="PasswordSetError") as caught:
        await log_in(s)
    assert "use a passphrase" in str(caught.value)
    assert await s.inner.auth_key() is None
    await s.close()


def plaintext_backend() -> Any:
    alt = pytest.importorskip("keyrings.alt.file")
    return alt.PlaintextKeyring()


@pytest.mark.parametrize(
    "make", [fail.Keyring, null.Keyring, plaintext_backend], ids=["fail", "null", "plaintext"]
)
async def test_unsafe_backends_are_refused(make: Any, use_keyring: Any, tmp_path: Path) -> None:
    backend = use_keyring(make())
    with pytest.raises(KeyringUnavailableError) as caught:
        await storage(tmp_path, keyring=True).open()
    message = str(caught.value)
    assert type(backend).__name__ in message
    assert "passphrase" in message and "install" in message
    inner = FileStorage("desk", workdir=tmp_path)
    await inner.open()
    assert await inner.auth_key() is None
    await inner.close()


def renamed_plaintext_backend() -> Any:
    alt = pytest.importorskip("keyrings.alt.file")

    class CompanyKeyring(alt.PlaintextKeyring):  # type: ignore[misc]
        """Still writes secrets in the clear, under another name."""

    return CompanyKeyring()


class UnratedKeyring(DictKeyring):
    """A working backend that its author rates as not recommended (keyring: priority < 1)."""

    priority = 0.5  # type: ignore[assignment]


@pytest.mark.parametrize(
    "make", [renamed_plaintext_backend, UnratedKeyring], ids=["plaintext-subclass", "priority"]
)
async def test_unsafe_subclasses_and_low_priority_backends_are_refused(
    make: Any, use_keyring: Any, tmp_path: Path
) -> None:
    backend = use_keyring(make())
    with pytest.raises(KeyringUnavailableError, match="does not protect secrets") as caught:
        await storage(tmp_path, keyring=True).open()
    assert type(backend).__name__ in str(caught.value)
    if isinstance(backend, DictKeyring):
        assert backend.entries == {}


async def test_unsafe_backend_falls_back_to_another_slot(
    backend: DictKeyring, use_keyring: Any, tmp_path: Path
) -> None:
    s = storage(tmp_path, keyring=True, passphrase="pw")
    await s.open()
    key = await log_in(s)
    await s.close()
    use_keyring(null.Keyring())
    with pytest.raises(KeyringUnavailableError):
        await storage(tmp_path, keyring=True).open()
    s = storage(tmp_path, keyring=True, passphrase="pw")
    await s.open()
    assert await s.auth_key() == key
    await s.close()


# --- a real SecretService ----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys
    import keyring
    from vault import EncryptedStorage
    from vault.crypto import CHEAP_KDF
    from vault.crypto.keyring_slot import entry_name
    from vault.storage import FileStorage

    async def main(workdir):
        def make():
            return EncryptedStorage(FileStorage("ss", workdir=workdir), keyring=True, kdf=CHEAP_KDF)
        s = make()
        await s.open()
        key = os.urandom(256)
        await s.auth_key(key)
        await s.close()
        s = make()
        await s.open()
        same = await s.auth_key() == key
        user = entry_name(s._vault_id)
        stored = keyring.get_password("session-vault", user) is not None
        await s.delete()
        gone = keyring.get_password("session-vault", user) is None
        backend = type(keyring.get_keyring())
        print(json.dumps({"backend": backend.__module__, "same": same, "stored": stored,
                          "gone": gone}))

    asyncio.run(main(sys.argv[1]))
    """
)


def test_secret_service(tmp_path: Path) -> None:
    """Starts a private D-Bus session with gnome-keyring unlocked by a test password, and runs
    a child process that uses EncryptedStorage(keyring=True) against it. Skipped where the
    packages are missing, except in CI, which must have them."""
    if not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install Debian's dbus and gnome-keyring packages")
        pytest.skip("needs Debian's dbus and gnome-keyring packages")
    home = tmp_path / "home"
    home.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
    }
    command = (
        'printf %s "test password" | gnome-keyring-daemon --unlock --components=secrets '
        '>/dev/null 2>&1 && exec "$0" "$1" "$2"'
    )
    result = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", command, sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "backend": "keyring.backends.SecretService",
        "same": True,
        "stored": True,
        "gone": True,
    }
