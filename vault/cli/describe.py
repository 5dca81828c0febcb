"""What ``info`` shows of a session: its facts (the ``--json`` document) and their text form.
No secret is ever part of them."""

from __future__ import annotations

import datetime
from typing import Any

from ..crypto.envelope import VERSION as ENVELOPE_VERSION
from ..crypto.envelope import Header
from ..crypto.slots import KeyringSlot, PassphraseSlot, Slot
from .slot_ids import slot_ids
from .target import SessionView

__all__ = ["info_facts", "render"]


def _slot_facts(index: int, slot_id: str, slot: Slot) -> dict[str, Any]:
    kind = slot.kind.name.lower().replace("_", "-")
    facts: dict[str, Any] = {"id": slot_id, "index": index, "type": kind}
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


def _encryption_facts(header: Header | None) -> dict[str, Any] | None:
    """Format, vault id, bound session name and slots of an envelope header (no secrets)."""
    if header is None:
        return None
    return {
        "format_version": ENVELOPE_VERSION,
        "vault_id": header.vault_id.hex(),
        "bound_to": header.binding.decode("utf-8", "replace"),
        "slots": [
            _slot_facts(i, slot_id, s)
            for i, (slot_id, s) in enumerate(zip(slot_ids(header.slots), header.slots, strict=True))
        ],
    }


def info_facts(view: SessionView) -> dict[str, Any]:
    """The ``info --json`` document of a session."""
    return {
        **view.place,
        "encrypted": view.encrypted,
        "encryption": _encryption_facts(view.header),
        "has_auth_key": view.has_auth_key,
        "peers_sealed": view.peers_sealed,
        "peers_sealing_unfinished": view.sealing_unfinished,
        **view.fields,
        **view.counts,
    }


def _yes_no(value: object) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _peer_cache(facts: dict[str, Any], values: str) -> str:
    if facts["peers_sealed"]:
        return f"sealed ({values} stored as tokens)"
    if facts["peers_sealing_unfinished"]:
        return "being sealed (a seal-peers was stopped: run it again to finish)"
    return f"plain ({values} readable)"


def render(facts: dict[str, Any], head: list[str], target: str, cached_values: str) -> str:
    """``facts`` as text: the ``head`` lines, then encryption and account; ``target`` is how
    the encrypt command names this session, ``cached_values`` what its peer cache holds."""
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
        lines.append("key slots:      (ids for remove-key)")
        for slot in enc["slots"]:
            detail = ""
            if "kdf" in slot:
                k = slot["kdf"]
                detail = f"Argon2id t={k['time_cost']} m={k['memory_kib']} KiB p={k['parallelism']}"
            elif "service" in slot:
                detail = f"OS keyring, service {slot['service']!r}"
            lines.append(f"  {slot['id']:<8} {slot['type']:<11} {detail}".rstrip())
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
        f"peer cache:     {_peer_cache(facts, cached_values)}",
    ]
    return "\n".join(lines)
