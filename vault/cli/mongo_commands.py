"""The commands on a session kept in MongoDB: encrypt, decrypt, passwd, add-key, remove-key,
export and info.

A server has no atomic file replace, so every change is one update of the session document's
``auth_key`` field (the server applies it whole or not at all), made while holding the
session's lease. The result is then read back from the server and opened with the new
credentials; only then is success reported. If it does not open, the previous value is put
back. A crash at any moment leaves the old value or the new one, each usable.
"""

from __future__ import annotations

import json
from typing import Any

from ..crypto.slots import Slot
from ..encrypted import EncryptedStorage
from .credentials import Credentials
from .exits import CliError, Exit
from .file_commands import SlotChange, slot_summary
from .mongo_target import MongoSessions, MongoView
from .read_commands import encryption_facts, export_storage, render
from .vaults import opened, opened_vault

__all__ = ["change_slots", "decrypt", "encrypt", "export", "info"]


async def encrypt(sessions: MongoSessions, name: str, creds: Credentials) -> str:
    """Encrypt the plaintext auth key of a session in place."""
    label = sessions.label(name)
    view = await sessions.view(name)
    if view.encrypted:
        return f"skipped {label}: already encrypted (use `passwd` to change its passphrase)"
    if not view.has_auth_key:
        raise CliError(
            Exit.REFUSED, f"{label} holds no auth key (never logged in): nothing to encrypt"
        )
    new = creds.new_kwargs()

    async def nothing(storage: EncryptedStorage) -> dict[str, Any]:
        return new  # encrypt_plaintext sealed the key when the storage opened

    slots = await _apply(sessions, name, new, nothing, encrypt_plaintext=True)
    return f"encrypted {label} ({slot_summary(slots)})"


async def decrypt(sessions: MongoSessions, name: str, creds: Credentials) -> str:
    """Store the auth key of an encrypted session in the clear again."""
    label = sessions.label(name)
    if not (await sessions.view(name)).encrypted:
        return f"skipped {label}: not encrypted"

    async def store_plain(storage: EncryptedStorage) -> dict[str, Any]:
        key = await storage.auth_key()
        await storage.inner.auth_key(key)
        return {}

    await _apply(sessions, name, creds.unlock_kwargs(), store_plain)
    return f"decrypted {label}: its auth key is now stored UNENCRYPTED"


async def change_slots(
    sessions: MongoSessions, name: str, creds: Credentials, change: SlotChange
) -> tuple[Slot, ...]:
    """Apply a slot change of :mod:`~vault.cli.file_commands` to an encrypted session."""
    if not (await sessions.view(name)).encrypted:
        raise CliError(
            Exit.REFUSED,
            f"{sessions.label(name)} is not encrypted; run `session-vault encrypt` on it first",
        )
    return await _apply(sessions, name, creds.unlock_kwargs(), change)


async def _apply(
    sessions: MongoSessions,
    name: str,
    unlock: dict[str, Any],
    change: SlotChange,
    *,
    encrypt_plaintext: bool = False,
) -> tuple[Slot, ...]:
    """Open the session (taking its lease), ``change`` it, check that the stored result opens
    with the credentials ``change`` returns (``{}``: in the clear) and gives the same auth key;
    if not, put the previous value back. Returns the slots after the change."""
    label = sessions.label(name)
    with sessions.translated():
        previous = (await sessions.document(name)).get("auth_key")
        async with opened_vault(
            sessions.storage(name), encrypt_plaintext=encrypt_plaintext, **unlock
        ) as storage:
            key = await storage.auth_key()
            check = await change(storage)
            try:
                same = await _read_back(sessions, name, check) == key
            except Exception:
                same = False
            if not same:
                await storage.inner.auth_key(previous)
                raise CliError(
                    Exit.INTERNAL,
                    f"the changed {label} did not give back the same auth key; its previous "
                    "value was put back (please report this)",
                )
            return storage.key_slots


async def _read_back(sessions: MongoSessions, name: str, unlock: dict[str, Any]) -> bytes | None:
    """The auth key as a client would now get it from the server."""
    snapshot = await sessions.snapshot(name)
    if not unlock:
        async with opened(snapshot):
            return await snapshot.auth_key()
    async with opened_vault(snapshot, **unlock) as storage:
        return await storage.auth_key()


async def export(sessions: MongoSessions, name: str, creds: Credentials, *, plain: bool) -> str:
    """The session as an encrypted string (or a plain one); nothing is written."""
    view = await sessions.view(name)
    snapshot = await sessions.snapshot(name)
    where = sessions.label(name)
    return await export_storage(snapshot, creds, plain=plain, encrypted=view.encrypted, where=where)


async def info(sessions: MongoSessions, name: str, *, as_json: bool) -> str:
    """Describe a session without any key: layout, slots, account, cache sizes, lease."""
    view = await sessions.view(name)
    facts = _facts(view)
    if as_json:
        return json.dumps(facts, indent=2)
    layout = "shared layout" if view.shared else "default layout: one database per session"
    lease = view.lease
    head = [
        f"database:       {view.database} ({layout})",
        f"session name:   {view.name}",
        f"in use:         {'yes, lease held by ' + str(lease['owner']) if lease else 'no'}",
    ]
    where = f"--name {view.name}" + (f" --database {view.database}" if view.shared else "")
    return render(facts, head, f"--mongo-uri URI {where}")


def _facts(view: MongoView) -> dict[str, Any]:
    return {
        "database": view.database,
        "layout": "shared" if view.shared else "default",
        "session_name": view.name,
        "lease_owner": None if view.lease is None else view.lease.get("owner"),
        "encrypted": view.encrypted,
        "encryption": encryption_facts(view.header),
        "has_auth_key": view.has_auth_key,
        **view.fields,
        "peers": view.peers,
        "usernames": view.usernames,
        "update_states": view.update_states,
    }
