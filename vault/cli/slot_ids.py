"""Stable ids for key slots, as ``info`` shows them and ``remove-key`` takes them.

A slot's position changes when a slot before it is removed, and its wrapped data key changes
whenever the data key is rotated (removing a slot, changing a passphrase), so neither can name
a slot for long. The id is derived from what a slot keeps for its whole life and is no secret:

* passphrase slot: ``p`` + 6 hex digits of a hash of its Argon2id salt (a new passphrase is a
  new slot with a new salt, so a new id);
* keyring slot: ``k`` + 6 hex digits of a hash of its keyring service (unique in a vault);
* raw-key slot: ``r1``, ``r2``... in order: such a slot stores nothing but the wrapped key,
  so only removing an earlier raw-key slot renumbers it.

Nothing new is stored: the ids are computed from the envelope header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..crypto.slots import KeyringSlot, PassphraseSlot, Slot
from .exits import CliError, Exit

__all__ = ["find_slot", "slot_ids"]

_LABEL = b"session-vault/slot-id\x00"


def _digest(kind: bytes, data: bytes) -> str:
    return hashlib.sha256(_LABEL + kind + data).hexdigest()[:6]


def slot_ids(slots: Sequence[Slot]) -> list[str]:
    """The id of each slot, in order."""
    ids: list[str] = []
    raw = 0
    for slot in slots:
        if isinstance(slot, PassphraseSlot):
            ids.append("p" + _digest(b"p", slot.salt))
        elif isinstance(slot, KeyringSlot):
            ids.append("k" + _digest(b"k", slot.service.encode("utf-8")))
        else:
            raw += 1
            ids.append(f"r{raw}")
    return ids


def find_slot(slots: Sequence[Slot], wanted: str) -> int:
    """The position of the slot named ``wanted``: its id (as ``info`` shows it) or, as before
    ids existed, its position number."""
    ids = slot_ids(slots)
    matches = [i for i, slot_id in enumerate(ids) if slot_id == wanted.lower()]
    if len(matches) == 1:
        return matches[0]
    if wanted.isdigit() and int(wanted) < len(slots):
        return int(wanted)
    known = ", ".join(ids)
    raise CliError(
        Exit.USAGE,
        f"this session has no key slot {wanted!r}; its slots are {known} (see `info`)",
    )
