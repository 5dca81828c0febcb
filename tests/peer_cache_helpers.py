"""Peers with known usernames and phone numbers (both layouts' rows), the lookups a client
makes for them, and a scan for any plain copy of those values: one set of helpers for the
sealed peer cache tests of the library and of the command line."""

from __future__ import annotations

import re
from typing import Any

import bson
import pytest

from vault.storage import Storage

COUNT = 10_000
#: Every username starts with this (any case), every phone number with these digits: a plain
#: copy of any of them shows up in a byte scan, and no token (lower-case hex) can match.
USER_PREFIX, PHONE_PREFIX = "VaultUser", "999555777"
PLAIN_USERNAME = re.compile(USER_PREFIX.encode(), re.IGNORECASE)
PLAIN_PHONE = re.compile(PHONE_PREFIX.encode())


def username(i: int) -> str:
    return f"{USER_PREFIX}{i:05d}"


def alias(i: int) -> str:
    return f"{USER_PREFIX}Alias{i:05d}"


def phone(i: int) -> str:
    return f"{PHONE_PREFIX}{i:05d}"


async def write_peers(storage: Storage, count: int = COUNT) -> None:
    """Pyrofork-style five-field rows and usernames, then Kurigram-style rows and lists."""
    half = count // 2
    await storage.update_peers(
        [(i, i * 3, "user", username(i), phone(i)) for i in range(1, half + 1)]
    )
    await storage.update_usernames(
        [row for i in range(1, half + 1) for row in ((i, username(i)), (i, alias(i)))]
    )
    await storage.update_peers([(i, i * 3, "user", phone(i)) for i in range(half + 1, count + 1)])
    await storage.update_usernames(
        [(i, [username(i), None, alias(i)]) for i in range(half + 1, count + 1)]
    )


async def check_lookups(
    storage: Storage, ids: tuple[int, ...] = (1, 4999, 5001, COUNT), *, exact: bool = False
) -> None:
    """Each peer is found by every form a client may look it up by (with ``exact``, as it was
    stored: a plain cache compares values as they are)."""
    for i in ids:
        forms = () if exact else (username(i).lower(), "@" + username(i).upper())
        for name in (username(i), *forms, alias(i)):
            assert (await storage.get_peer_by_username(name)).user_id == i
        for number in (phone(i), *(() if exact else ("+" + phone(i),))):
            assert (await storage.get_peer_by_phone_number(number)).access_hash == i * 3
    with pytest.raises(KeyError):
        await storage.get_peer_by_username(username(COUNT + 1))
    with pytest.raises(KeyError):
        await storage.get_peer_by_phone_number(phone(COUNT + 1))


def plain_values_in(data: bytes) -> list[bytes]:
    """The first plain usernames or phone numbers found in ``data``."""
    found = PLAIN_USERNAME.findall(data) + PLAIN_PHONE.findall(data)
    return found[:5]


async def mongo_documents(client: Any, database: str) -> bytes:
    """Every document of every collection of ``database``, BSON-encoded end to end."""
    docs = []
    for collection in await client[database].list_collection_names():
        async for doc in client[database][collection].find({}):
            docs.append(bson.encode(doc))
    return b"".join(docs)
