"""Commands that only read a session file: info and export. They work on an in-memory
snapshot, so they never change the file and may run while a client has it open."""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

from ..crypto import encrypt_session_string
from ..crypto.envelope import VERSION as ENVELOPE_VERSION
from ..crypto.envelope import Header
from ..crypto.slots import KeyringSlot, PassphraseSlot, Slot
from ..session_string import encode_session_string
from ..storage import Storage
from .credentials import Credentials
from .exits import CliError, Exit
from .sessionfile import SCHEMA_NAMES, SessionView, Snapshot, read_view
from .vaults import opened, opened_vault

__all__ = ["encryption_facts", "export", "export_storage", "info", "render", "warn"]

PLAIN_WARNING = (
    "this is the PLAINTEXT session string: anyone who sees it has the account; keep it out of "
    "logs, shell history and CI output"
)


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"session-vault: warning: {message}", file=sys.stderr, flush=True)


async def info(path: Path, *, as_json: bool) -> str:
    """Describe a session file without any key: format, slots, account, cache sizes."""
    view = await read_view(path)
    facts = _facts(view)
    if as_json:
        return json.dumps(facts, indent=2)
    head = [
        f"path:           {facts['path']}",
        f"session name:   {facts['session_name']}",
        f"schema:         version {facts['schema_version']} ({facts['written_by']})",
    ]
    return render(facts, head, facts["path"])


def _slot_facts(index: int, slot: Slot) -> dict[str, Any]:
    facts: dict[str, Any] = {"index": index, "type": slot.kind.name.lower().replace("_", "-")}
    if isinstance(slot, PassphraseSlot):
        facts["kdf"] = {
            "algorithm": "argon2id",
            "time_cost": slot.kdf.time_cost,
            "memory_kib": slot.kdf.memory_cost,
            "parallelism": slot.kdf.parallelism,
        }
    elif isinstance(slot, KeyringSlot):
        facts["service"] = slot.service
    return facts


def encryption_facts(header: Header | None) -> dict[str, Any] | None:
    """Format, vault id, bound session name and slots of an envelope header (no secrets)."""
    if header is None:
        return None
    return {
        "format_version": ENVELOPE_VERSION,
        "vault_id": header.vault_id.hex(),
        "bound_to": header.binding.decode("utf-8", "replace"),
        "slots": [_slot_facts(i, s) for i, s in enumerate(header.slots)],
    }


def _facts(view: SessionView) -> dict[str, Any]:
    return {
        "path": str(view.path),
        "session_name": view.name,
        "schema_version": view.schema_version,
        "written_by": SCHEMA_NAMES.get(view.schema_version, "unknown"),
        "encrypted": view.encrypted,
        "encryption": encryption_facts(view.header),
        "has_auth_key": view.has_auth_key,
        "dc_id": view.dc_id,
        "api_id": view.api_id,
        "test_mode": view.test_mode,
        "user_id": view.user_id,
        "is_bot": view.is_bot,
        "date": view.date,
        "peers": view.peers,
        "usernames": view.usernames,
        "update_states": view.update_states,
    }


def _yes_no(value: object) -> str:
    return "-" if value is None else ("yes" if value else "no")


def render(facts: dict[str, Any], head: list[str], target: str) -> str:
    """``facts`` as text: the ``head`` lines, then encryption and account; ``target`` is how
    the encrypt command names this session."""
    lines = list(head)
    enc = facts["encryption"]
    if enc is None:
        state = "no auth key (not logged in)" if not facts["has_auth_key"] else "NONE"
        lines.append(f"encryption:     {state}")
        if facts["has_auth_key"]:
            lines.append(
                "                the auth key is stored in the clear; protect it with: "
                f"session-vault encrypt {target}"
            )
    else:
        lines.append(
            f"encryption:     session-vault envelope v{enc['format_version']}, "
            f"AES-256-GCM, vault id {enc['vault_id']}"
        )
        if enc["bound_to"] != facts["session_name"]:
            lines.append(f"                sealed for session {enc['bound_to']!r}: it was renamed")
        lines.append("key slots:")
        for slot in enc["slots"]:
            detail = ""
            if "kdf" in slot:
                k = slot["kdf"]
                detail = f"Argon2id t={k['time_cost']} m={k['memory_kib']} KiB p={k['parallelism']}"
            elif "service" in slot:
                detail = f"OS keyring, service {slot['service']!r}"
            lines.append(f"  {slot['index']}  {slot['type']:<11} {detail}".rstrip())
    date = facts["date"]
    saved = (
        datetime.datetime.fromtimestamp(date, datetime.timezone.utc).isoformat(timespec="seconds")
        if date
        else "-"
    )
    lines += [
        f"dc id:          {facts['dc_id'] if facts['dc_id'] is not None else '-'}",
        f"api id:         {facts['api_id'] if facts['api_id'] is not None else '-'}",
        f"test mode:      {_yes_no(facts['test_mode'])}",
        f"user id:        {facts['user_id'] if facts['user_id'] is not None else '-'}",
        f"is bot:         {_yes_no(facts['is_bot'])}",
        f"last saved:     {saved}",
        f"peers cached:   {facts['peers']} (usernames {facts['usernames']}, "
        f"update states {facts['update_states']})",
    ]
    return "\n".join(lines)


async def export(path: Path, creds: Credentials, *, plain: bool) -> str:
    """The session as an encrypted string (or, with ``plain``, a plain one plus a warning)."""
    view = await read_view(path)
    return await export_storage(
        Snapshot(path), creds, plain=plain, encrypted=view.encrypted, where=str(path)
    )


async def export_storage(
    snapshot: Storage, creds: Credentials, *, plain: bool, encrypted: bool, where: str
) -> str:
    """:func:`export` of a read-only copy of a session (``encrypted`` if its key is sealed;
    ``where`` names the session in the warning)."""
    if encrypted:
        async with opened_vault(snapshot, **creds.unlock_kwargs()) as storage:
            if plain:
                warn(PLAIN_WARNING)
                return await storage.export_plain_session_string()
            return await storage.export_session_string()
    async with opened(snapshot):
        text = encode_session_string(await snapshot.session_data())
    if plain:
        warn(PLAIN_WARNING + f"; {where} itself is not encrypted either")
        return text
    if creds.keyring is not False:
        raise CliError(
            Exit.USAGE,
            "an encrypted session string opens with a passphrase or a raw key, not the OS "
            "keyring; drop --keyring",
        )
    kwargs = creds.new_kwargs()
    return encrypt_session_string(text, **kwargs)
