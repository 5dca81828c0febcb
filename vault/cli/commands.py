"""The commands on one session, each written once for every kind of
:class:`~vault.cli.target.Target`: encrypt, decrypt, passwd, add-key, remove-key, export, info.

Each returns the line to print for its session. The commands that change a session hold it
(:meth:`~vault.cli.target.Target.locked`), read what it holds, and make their change through
:meth:`~vault.cli.target.Target.change`, which checks the result before keeping it; ``info``
and ``export`` read a snapshot only, so they never change the session and may run while a
client has it open.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from typing import Any

from ..crypto import encrypt_session_string
from ..crypto.keyring_slot import DEFAULT_SERVICE
from ..crypto.slots import KeyringSlot, Slot, SlotKind
from ..encrypted import EncryptedStorage
from ..errors import WrongKeyError
from ..session_string import encode_session_string
from ..storage import Storage
from .credentials import Credentials, PassphraseSource, new_passphrase_source, read_new_key
from .describe import info_facts, render
from .exits import CliError, Exit
from .slot_ids import find_slot, slot_ids
from .target import SessionView, Target
from .vaults import (
    Change,
    Outcome,
    editing,
    migrating,
    opened,
    unchanged,
    unlocking,
)

__all__ = [
    "PLAIN_WARNING",
    "add_key",
    "decrypt",
    "encrypt",
    "export",
    "export_plain_session",
    "info",
    "passwd",
    "remove_key",
    "seal_peers",
    "slot_summary",
    "warn",
]

AnyTarget = Target[Any]

PLAIN_WARNING = (
    "this is the PLAINTEXT session string: anyone who sees it has the account; keep it out of "
    "logs, shell history and CI output"
)


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"session-vault: warning: {message}", file=sys.stderr, flush=True)


def slot_summary(slots: tuple[Slot, ...]) -> str:
    """``"2 key slots: passphrase, keyring"`` (``info`` shows their ids)."""
    kinds = ", ".join(_kind(slot) for slot in slots)
    return f"{len(slots)} key slot{'s' * (len(slots) != 1)}: {kinds}"


def _kind(slot: Slot) -> str:
    return slot.kind.name.lower().replace("_", "-")


# --- changing commands ---------------------------------------------------------------------


async def encrypt(target: AnyTarget, creds: Credentials) -> str:
    """Encrypt the plaintext auth key of a session."""
    with target.locked():
        view = await target.view()
        if view.sealing_unfinished:
            await target.finish_sealing()
            return f"{target} was already encrypted; sealed the rest of its peer cache"
        if view.encrypted:
            return f"skipped {target}: already encrypted (use `passwd` to change its passphrase)"
        if not view.has_auth_key:
            raise CliError(
                Exit.REFUSED, f"{target} holds no auth key (never logged in): nothing to encrypt"
            )
        new = creds.new_kwargs()
        # In place: a changed copy would leave the plaintext key in the replaced file's blocks.
        # The stored peer cache is sealed with it, under Outcome.peer_index.
        outcome = await target.change_in_place(editing(migrating(new), unchanged(new)))
    return (
        f"encrypted {target} ({slot_summary(outcome.slots)}); in your code, open it with "
        f"{target.vault_code}({target.storage_code}, {_unlock_code(outcome.slots)})"
    )


def _unlock_code(slots: tuple[Slot, ...]) -> str:
    """The argument that unlocks a vault with these slots, as Python code shows it."""
    if any(slot.kind is SlotKind.PASSPHRASE for slot in slots):
        return "passphrase=..."
    for slot in slots:
        if isinstance(slot, KeyringSlot):
            return (
                "keyring=True" if slot.service == DEFAULT_SERVICE else f"keyring={slot.service!r}"
            )
    return "key=..."


async def seal_peers(target: AnyTarget, creds: Credentials, *, rebind: bool = False) -> str:
    """Seal the peer cache of an encrypted session: give it an index key and replace every
    stored username and phone number (and, in a Telethon file, name) by its token."""
    with target.locked():
        view = await target.view()
        _require_encrypted(target, view)
        if view.peers_sealed:
            return f"skipped {target}: its peer cache is already sealed"
        if view.sealing_unfinished:
            await target.finish_sealing()
        else:
            await target.seal_peers(creds.unlock_kwargs(), rebind=rebind)
    return f"sealed the peer cache of {target}: {target.cached_values} are now tokens"


async def decrypt(target: AnyTarget, creds: Credentials, *, rebind: bool = False) -> str:
    """Store the auth key of an encrypted session in the clear again."""
    with target.locked():
        if not (await target.view()).encrypted:
            return f"skipped {target}: not encrypted"

        async def store_plain(storage: EncryptedStorage) -> dict[str, Any]:
            await storage.inner.auth_key(await storage.auth_key())
            await storage.inner.purge_stale_copies()
            return {}

        opener = unlocking(creds.unlock_kwargs(), rebind=rebind)
        await target.change(editing(opener, store_plain))
    return f"decrypted {target}: its auth key is now stored UNENCRYPTED"


async def passwd(
    target: AnyTarget, creds: Credentials, new: PassphraseSource, *, rebind: bool = False
) -> str:
    """Replace the passphrase slot that unlocked the session by one for a new passphrase."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        passphrase = new.get(confirm=True)
        await _cover_kept_slots(storage, creds)
        await storage.slots.change_passphrase(passphrase, kdf=creds.kdf())
        return {"passphrase": passphrase}

    await _change_slots(target, creds, change, rebind)
    return f"changed the passphrase of {target}"


async def add_key(
    target: AnyTarget,
    creds: Credentials,
    kind: str,
    args: argparse.Namespace,
    *,
    rebind: bool = False,
) -> str:
    """Add a passphrase, keyring or raw-key slot (the new slot is checked to open the result)."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        if kind == "passphrase":
            passphrase = new_passphrase_source(args).get(confirm=True)
            await storage.add_passphrase(passphrase, kdf=creds.kdf())
            return {"passphrase": passphrase}
        if kind == "keyring":
            await storage.add_keyring(args.service)
            return {"keyring": args.service}
        key = read_new_key(args)
        await storage.add_key(key)
        return {"key": key}

    outcome = await _change_slots(target, creds, change, rebind)
    return f"added a {kind} slot to {target} ({slot_summary(outcome.slots)})"


async def remove_key(
    target: AnyTarget, creds: Credentials, wanted: str, *, rebind: bool = False
) -> str:
    """Remove the key slot ``wanted`` (its id, or its position number); never the last one,
    nor the one used to unlock."""
    removed: list[str] = []

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        slots = storage.slots.all
        index = find_slot(slots, wanted)
        removed.append(f"{slot_ids(slots)[index]} ({_kind(slots[index])})")
        if storage.slots.unlocked_by == index:
            raise CliError(
                Exit.REFUSED,
                f"slot {removed[0]} is the one you unlocked with; unlock with another slot to "
                "remove it (that also proves the other slot works)",
            )
        await _cover_kept_slots(storage, creds)
        await storage.slots.remove(index)
        return creds.unlock_kwargs()

    outcome = await _change_slots(target, creds, change, rebind)
    return f"removed key slot {removed[0]} from {target} ({slot_summary(outcome.slots)})"


async def _change_slots(
    target: AnyTarget, creds: Credentials, change: Change, rebind: bool
) -> Outcome:
    """Unlock an encrypted session (``rebind``: see :func:`~.vaults.unlocking`) and apply the
    slot ``change`` to it."""
    with target.locked():
        _require_encrypted(target, await target.view())
        opener = unlocking(creds.unlock_kwargs(), rebind=rebind)
        return await target.change(editing(opener, change))


def _require_encrypted(target: AnyTarget, view: SessionView) -> None:
    if not view.encrypted:
        raise CliError(
            Exit.REFUSED,
            f"{target} is not encrypted; run `session-vault encrypt {target.cli_args}` first",
        )


async def _cover_kept_slots(storage: EncryptedStorage, creds: Credentials) -> None:
    """Let every slot the unlocking options open be kept by the data-key rotation of a
    removal or passphrase change (e.g. --passphrase-file and --key-file given together)."""
    if storage.slots.uncovered():
        with contextlib.suppress(WrongKeyError):
            await storage.slots.cover(**creds.unlock_kwargs())


# --- reading commands ----------------------------------------------------------------------


async def info(target: AnyTarget, *, as_json: bool) -> str | dict[str, Any]:
    """Describe a session without any key: where it is, slots, account, cache sizes (as
    text, or with ``as_json`` as the facts of its JSON result)."""
    facts = info_facts(await target.view())
    if as_json:
        return facts
    return render(facts, target.head(facts), target.cli_args, target.cached_values)


async def export(
    target: AnyTarget, creds: Credentials, *, plain: bool, rebind: bool = False
) -> str:
    """The session as an encrypted string (or, with ``plain``, a plain one plus a warning);
    nothing is written (with ``rebind``, the string is sealed for the session's own name)."""
    view = await target.view()
    snapshot: Storage = await target.snapshot()
    if view.encrypted:
        async with unlocking(creds.unlock_kwargs(), rebind=rebind)(snapshot) as storage:
            if plain:
                warn(PLAIN_WARNING)
                return await storage.export_plain_session_string()
            return await storage.export_session_string()
    async with opened(snapshot):
        text = encode_session_string(await snapshot.session_data())
    return export_plain_session(target, text, creds, plain=plain, seal=encrypt_session_string)


def export_plain_session(
    target: AnyTarget, text: str, creds: Credentials, *, plain: bool, seal: Callable[..., str]
) -> str:
    """What ``export`` prints for a plaintext session whose plain string is ``text``: the
    string ``seal`` encrypts it to under new credentials, or with ``plain`` ``text`` itself
    (plus a warning)."""
    if plain:
        warn(PLAIN_WARNING + f"; {target} itself is not encrypted either")
        return text
    if creds.keyring is not False:
        raise CliError(
            Exit.USAGE,
            "an encrypted session string opens with a passphrase or a raw key, not the OS "
            "keyring; drop --keyring",
        )
    return seal(text, **creds.new_kwargs())
