"""Peer rows shaped like a real client's cache: mostly users, some bots, groups and channels."""

from __future__ import annotations

import random
import string
from typing import TypeVar

from vault.peers import PeerRow

T = TypeVar("T")

_NAME_CHARS = string.ascii_lowercase + string.digits + "_"


def make_peers(count: int, seed: int = 1) -> list[PeerRow]:
    """``count`` distinct peers in random id order. Groups have no username; a third of the
    users have a phone number (contacts)."""
    rng = random.Random(seed)
    rows: dict[int, PeerRow] = {}
    while len(rows) < count:
        kind = rng.random()
        if kind < 0.8:
            peer_id = rng.randint(100_000, 8_000_000_000)
            peer_type = "user" if rng.random() < 0.95 else "bot"
        elif kind < 0.9:
            peer_id = -rng.randint(1, 999_999_999)
            peer_type = "group"
        else:
            peer_id = -1_000_000_000_000 - rng.randint(1, 2_999_999_999)
            peer_type = rng.choice(("channel", "supergroup"))
        if peer_id in rows:
            continue
        username = None if peer_type == "group" else _username(rng, len(rows))
        phone = f"+{rng.randint(10**10, 10**12)}" if peer_type == "user" and kind < 0.27 else None
        access_hash = None if peer_type == "group" else rng.getrandbits(63)
        rows[peer_id] = (peer_id, access_hash, peer_type, username, phone)
    return list(rows.values())


def _username(rng: random.Random, serial: int) -> str:
    # The serial keeps usernames unique, as Telegram does.
    return "".join(rng.choices(_NAME_CHARS, k=rng.randint(4, 12))) + f"_{serial}"


def shuffle(items: list[T], seed: int = 2) -> list[T]:
    """Put ``items`` in a random but repeatable order, in place; return them."""
    random.Random(seed).shuffle(items)
    return items
