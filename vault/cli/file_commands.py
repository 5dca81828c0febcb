"""Commands that change session files: encrypt, decrypt, passwd, add-key, remove-key.

Each works on a verified copy (:func:`~vault.cli.rewrite.rewrite`) while holding the
session's lock, and returns the line to print for one file.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..crypto.slots import Slot
from ..encrypted import EncryptedStorage
from ..errors import WrongKeyError
from .atomic import locked
from .credentials import Credentials, PassphraseSource, read_new_key
from .exits import CliError, Exit
from .rewrite import rewrite
from .sessionfile import SessionFile, SessionView, read_plain_auth_key, read_view
from .vaults import check_same_key, opened_vault

__all__ = [
    "SlotChange",
    "add_key",
    "add_key_change",
    "decrypt",
    "encrypt",
    "passwd",
    "passwd_change",
    "remove_key",
    "remove_key_change",
    "slot_summary",
]


def slot_summary(slots: tuple[Slot, ...]) -> str:
    """``"2 key slots: passphrase, keyring"``."""
    kinds = ", ".join(slot.kind.name.lower().replace("_", "-") for slot in slots)
    return f"{len(slots)} key slot{'s' * (len(slots) != 1)}: {kinds}"


async def encrypt(path: Path, creds: Credentials) -> str:
    """Encrypt a plaintext session file in place."""
    with locked(path):
        view = await read_view(path)
        if view.encrypted:
            return f"skipped {path}: already encrypted (use `passwd` to change its passphrase)"
        if not view.has_auth_key:
            raise CliError(
                Exit.REFUSED, f"{path} holds no auth key (never logged in): nothing to encrypt"
            )
        plain = await read_plain_auth_key(path)
        new = creds.new_kwargs()
        slots: list[Slot] = []

        async def change(temp: Path) -> None:
            async with opened_vault(
                SessionFile(temp, view.name), encrypt_plaintext=True, **new
            ) as storage:
                slots.extend(storage.key_slots)

        async def verify(temp: Path) -> None:
            await check_same_key(temp, view.name, plain, **new)

        await rewrite(path, change, verify, forbidden=plain)
    return f"encrypted {path} ({slot_summary(tuple(slots))})"


async def decrypt(path: Path, creds: Credentials) -> str:
    """Store the auth key of an encrypted session file in the clear again."""
    with locked(path):
        view = await read_view(path)
        if not view.encrypted:
            return f"skipped {path}: not encrypted"
        unlock = creds.unlock_kwargs()
        plain: list[bytes] = []

        async def change(temp: Path) -> None:
            async with opened_vault(SessionFile(temp, view.name), **unlock) as storage:
                key = await storage.auth_key()
                assert key is not None  # an encrypted file always holds a key
                plain.append(key)
                await storage.inner.auth_key(key)
                await storage.inner.purge_stale_copies()

        async def verify(temp: Path) -> None:
            await check_same_key(temp, view.name, plain[0])

        await rewrite(path, change, verify)
    return f"decrypted {path}: its auth key is now stored UNENCRYPTED"


#: Changes the slots of an open vault; returns the credentials that must open the result.
SlotChange = Callable[[EncryptedStorage], Awaitable[dict[str, Any]]]


def passwd_change(creds: Credentials, new: PassphraseSource) -> SlotChange:
    """The change that replaces the unlocking passphrase slot by one for ``new``."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        passphrase = new.get(confirm=True)
        await _cover_kept_slots(storage, creds)
        await storage.slots.change_passphrase(passphrase, kdf=creds.kdf())
        return {"passphrase": passphrase}

    return change


def add_key_change(creds: Credentials, kind: str, args: argparse.Namespace) -> SlotChange:
    """The change that adds a ``kind`` slot (passphrase, keyring or raw-key)."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        if kind == "passphrase":
            source = PassphraseSource(
                args.new_passphrase_env, args.new_passphrase_file, "New passphrase", "new-"
            )
            passphrase = source.get(confirm=True)
            await storage.add_passphrase(passphrase, kdf=creds.kdf())
            return {"passphrase": passphrase}
        if kind == "keyring":
            await storage.add_keyring(args.service)
            return {"keyring": args.service}
        key = read_new_key(args)
        await storage.add_key(key)
        return {"key": key}

    return change


def remove_key_change(creds: Credentials, index: int) -> SlotChange:
    """The change that removes slot ``index``; never the last one, nor the one used to
    unlock."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        if storage.slots.unlocked_by == index:
            raise CliError(
                Exit.REFUSED,
                f"slot {index} is the one you unlocked with; unlock with another slot to "
                "remove it (that also proves the other slot works)",
            )
        await _cover_kept_slots(storage, creds)
        await storage.slots.remove(index)
        return creds.unlock_kwargs()

    return change


async def passwd(path: Path, creds: Credentials, new: PassphraseSource) -> str:
    """Replace the passphrase slot that unlocked the file by one for a new passphrase."""
    await _change_slots(path, creds, passwd_change(creds, new))
    return f"changed the passphrase of {path}"


async def add_key(path: Path, creds: Credentials, kind: str, args: argparse.Namespace) -> str:
    """Add a passphrase, keyring or raw-key slot (the new slot is checked to open the copy)."""
    slots = await _change_slots(path, creds, add_key_change(creds, kind, args))
    return f"added a {kind} slot to {path} ({slot_summary(slots)})"


async def remove_key(path: Path, creds: Credentials, index: int) -> str:
    """Remove key slot ``index``; never the last one, nor the one used to unlock."""
    slots = await _change_slots(path, creds, remove_key_change(creds, index))
    return f"removed key slot {index} from {path} ({slot_summary(slots)})"


async def _change_slots(
    path: Path,
    creds: Credentials,
    change: SlotChange,
) -> tuple[Slot, ...]:
    """Open a copy of an encrypted file, apply ``change`` (which returns the credentials that
    must open the result), verify and replace. Returns the new slots."""
    with locked(path):
        view = await read_view(path)
        _require_encrypted(view)
        unlock = creds.unlock_kwargs()
        plain: list[bytes] = []
        check: dict[str, Any] = {}
        slots: list[Slot] = []

        async def step(temp: Path) -> None:
            async with opened_vault(SessionFile(temp, view.name), **unlock) as storage:
                key = await storage.auth_key()
                assert key is not None
                plain.append(key)
                check.update(await change(storage))
                slots.extend(storage.key_slots)

        async def verify(temp: Path) -> None:
            await check_same_key(temp, view.name, plain[0], **check)

        await rewrite(path, step, verify)
    return tuple(slots)


def _require_encrypted(view: SessionView) -> None:
    if not view.encrypted:
        raise CliError(
            Exit.REFUSED,
            f"{view.path} is not encrypted; run `session-vault encrypt {view.path}` first",
        )


async def _cover_kept_slots(storage: EncryptedStorage, creds: Credentials) -> None:
    """Let every slot the unlocking options open be kept by the data-key rotation of a
    removal or passphrase change (e.g. --passphrase-file and --key-file given together)."""
    if storage.slots.uncovered():
        with contextlib.suppress(WrongKeyError):
            await storage.slots.cover(**creds.unlock_kwargs())
