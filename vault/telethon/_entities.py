"""The sealed entity cache of an EncryptedSession, on Telethon's side: the entities handed to
the wrapped session carry tokens in place of usernames, phone numbers and display names, and a
string key is turned into the tokens the wrapped session then looks up.

Only Telethon's public API is used: the wrapped session's own ``process_entities`` stores copies
of the TL objects, and its own ``get_input_entity`` finds them (see :mod:`._entity_tokens` for
the shapes that make this work).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from telethon import utils
from telethon.tl import TLObject, types

from ._entity_tokens import EntityTokens

__all__ = ["lookup_keys", "sealed_entities"]


def _entities(tlo: Any) -> list[Any]:
    """The entities Telethon's sessions take from ``tlo``: a list of them, or the ``user``,
    ``chat``, ``chats`` and ``users`` of a result."""
    if not isinstance(tlo, TLObject) and utils.is_list_like(tlo):
        return list(tlo)
    found: list[Any] = []
    for single in ("user", "chat"):
        if hasattr(tlo, single):
            found.append(getattr(tlo, single))
    for several in ("chats", "users"):
        value: Any = getattr(tlo, several, None)
        if utils.is_list_like(value):
            found.extend(value)
    return found


def _sealed(entity: Any, tokens: EntityTokens) -> Any:
    """``entity``, or a copy of it whose username(s), phone number and name are tokens."""
    if not isinstance(entity, TLObject):
        return entity
    username = getattr(entity, "username", None)
    usernames = getattr(entity, "usernames", None)
    phone = getattr(entity, "phone", None)
    name = utils.get_display_name(entity)
    if not (username or usernames or phone or name):
        return entity
    sealed = copy.copy(entity)  # the caller's object stays as it is
    if username:
        sealed.username = tokens.username(username)
    if usernames:  # not stored by Telethon's sessions; sealed for any session that does
        sealed.usernames = [_sealed_username(item, tokens) for item in usernames]
    if phone:
        sealed.phone = tokens.phone(str(phone))
    if name:
        if isinstance(entity, types.User):
            sealed.first_name, sealed.last_name = tokens.name(name), None
        else:  # chats, channels and communities: get_display_name gives the title
            sealed.title = tokens.name(name)
    return sealed


def _sealed_username(item: Any, tokens: EntityTokens) -> Any:
    if not isinstance(getattr(item, "username", None), str):
        return item
    sealed = copy.copy(item)
    sealed.username = tokens.username(item.username)
    return sealed


def sealed_entities(tlo: Any, tokens: EntityTokens) -> list[Any]:
    """The entities of ``tlo`` (what ``process_entities`` takes) with tokens in place of
    their usernames, phone numbers and display names; ids and access hashes unchanged."""
    return [_sealed(entity, tokens) for entity in _entities(tlo)]


def lookup_keys(key: str, tokens: EntityTokens) -> Iterator[str]:
    """What the wrapped session's ``get_input_entity`` is asked, in turn, for the string
    ``key``: as Telethon reads it, a phone number's token, a username's token, or (an invite
    link) the key itself, then the token of ``key`` as an exact name."""
    phone = utils.parse_phone(key)
    if phone:
        yield tokens.phone(phone)
    else:
        username, is_invite = utils.parse_username(key)
        yield tokens.username(username) if username and not is_invite else key
    yield tokens.name(key)
