"""Peer cache rows and the input peers that lookups return.

Lookups return the client's own ``raw.types.InputPeer*`` objects when a Pyrogram-family package
is importable (Pyrogram, Pyrofork, Kurigram, Irenogram install ``pyrogram``; Hydrogram installs
``hydrogram``), so a client can use them as they are. Without one, vault returns its own small
frozen records with the same field names.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

__all__ = [
    "CHANNEL_TYPES",
    "PEER_TYPES",
    "USER_TYPES",
    "InputPeerChannel",
    "InputPeerChat",
    "InputPeerUser",
    "PeerRow",
    "get_channel_id",
    "get_input_peer",
]

#: ``(id, access_hash, type, username, phone_number)``, as clients pass to ``update_peers``.
PeerRow = tuple[int, "int | None", str, "str | None", "str | None"]

USER_TYPES: Final = frozenset({"user", "bot"})
CHANNEL_TYPES: Final = frozenset({"channel", "supergroup", "forum", "direct", "community"})
PEER_TYPES: Final = USER_TYPES | CHANNEL_TYPES | {"group"}

MAX_CHANNEL_ID: Final = -1000000000000


def get_channel_id(peer_id: int) -> int:
    """Map a bot-API style channel id (``-100…``) to the raw channel id, and back."""
    return MAX_CHANNEL_ID - peer_id


@dataclass(frozen=True)
class InputPeerUser:
    """A user or bot, as vault returns it when no Pyrogram-family package is installed."""

    user_id: int
    access_hash: int


@dataclass(frozen=True)
class InputPeerChat:
    """A basic group, as vault returns it when no Pyrogram-family package is installed."""

    chat_id: int


@dataclass(frozen=True)
class InputPeerChannel:
    """A channel or supergroup, as vault returns it when no Pyrogram-family package is installed."""

    channel_id: int
    access_hash: int


@cache
def _client_raw_types() -> Any:
    for package in ("pyrogram", "hydrogram"):
        try:
            if importlib.util.find_spec(package) is None:
                continue
            return importlib.import_module(f"{package}.raw.types")
        except (ImportError, ValueError):  # ValueError: blocked in sys.modules
            continue
    return None


def get_input_peer(peer_id: int, access_hash: int | None, peer_type: str) -> Any:
    """Build the input peer for a cached peer row.

    Returns the installed client's ``raw.types`` object, or vault's own record. Raises
    :class:`ValueError` for a peer type no Pyrogram-family client writes.
    """
    types = _client_raw_types()
    hash_ = access_hash or 0
    if peer_type in USER_TYPES:
        cls: Any = types.InputPeerUser if types else InputPeerUser
        return cls(user_id=peer_id, access_hash=hash_)
    if peer_type == "group":
        cls = types.InputPeerChat if types else InputPeerChat
        return cls(chat_id=-peer_id)
    if peer_type in CHANNEL_TYPES:
        cls = types.InputPeerChannel if types else InputPeerChannel
        return cls(channel_id=get_channel_id(peer_id), access_hash=hash_)
    raise ValueError(
        f"invalid peer type {peer_type!r} in the peer cache; expected one of "
        f"{', '.join(sorted(PEER_TYPES))}"
    )
