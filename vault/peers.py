"""Peer cache rows and the input peers that lookups return.

Lookups return the client's own ``raw.types.InputPeer*`` objects when a Pyrogram-family package
is importable (Pyrogram, Pyrofork, Kurigram, Irenogram install ``pyrogram``; Hydrogram installs
``hydrogram``), so a client can use them as they are. Without one, vault returns its own small
frozen records with the same field names.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

__all__ = [
    "CHANNEL_TYPES",
    "PEER_TYPES",
    "USER_TYPES",
    "AnyPeerRow",
    "InputPeerChannel",
    "InputPeerChat",
    "InputPeerUser",
    "PeerRow",
    "ShortPeerRow",
    "UsernameRow",
    "full_peer_rows",
    "get_channel_id",
    "get_input_peer",
    "usernames_by_peer",
]

#: ``(id, access_hash, type, username, phone_number)``, as clients pass to ``update_peers``.
PeerRow = tuple[int, "int | None", str, "str | None", "str | None"]
#: ``(id, access_hash, type, phone_number)``, as Kurigram and Irenogram pass to ``update_peers``
#: (their usernames come separately, through ``update_usernames``).
ShortPeerRow = tuple[int, "int | None", str, "str | None"]
AnyPeerRow = PeerRow | ShortPeerRow
#: ``(peer_id, username)`` as Pyrofork passes to ``update_usernames``, or
#: ``(peer_id, [username, ...])`` as Kurigram and Irenogram do.
UsernameRow = tuple[int, "str | Iterable[str | None]"]

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


def full_peer_rows(peers: Iterable[AnyPeerRow]) -> Iterator[PeerRow]:
    """Peer rows in the five-field shape; a four-field row has no username (``None``)."""
    for row in peers:
        if len(row) == 4:
            peer_id, access_hash, peer_type, phone_number = row
            yield (peer_id, access_hash, peer_type, None, phone_number)
        else:
            yield row


def usernames_by_peer(usernames: Iterable[UsernameRow]) -> dict[int, list[str]]:
    """Each peer named and all of its usernames given, in order (``None`` entries dropped).

    A peer named with an empty list is kept: its usernames are to be cleared.
    """
    owned: dict[int, list[str]] = {}
    for peer_id, names in usernames:
        found = owned.setdefault(peer_id, [])
        if isinstance(names, str):
            found.append(names)
        else:
            found.extend(name for name in names if name is not None)
    return owned
