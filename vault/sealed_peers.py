"""SealedPeerMethods: the peer cache methods of a wrapper that stores blind-index tokens in
place of usernames and phone numbers (see :mod:`vault.crypto.peer_index`).

The wrapper knows nothing of the inner storage's schema: it replaces the values in the rows it
passes to ``update_peers`` / ``update_usernames`` and in the values it looks up, and the inner
storage stores and compares tokens as it would any string. Peer ids, access hashes, types and
dates pass through unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Final

from .auth_key_field import SealedAuthKey, new_index_key
from .crypto.peer_index import PeerIndex
from .peers import AnyPeerRow, UsernameRow
from .storage.base import Storage

__all__ = ["SealedPeerMethods", "seal_peer_rows", "seal_username_rows"]

#: Peer rows sealed at a time, as the inner storage takes them.
_SEAL_CHUNK: Final = 100


def seal_peer_rows(index: PeerIndex, peers: Iterable[AnyPeerRow]) -> list[AnyPeerRow]:
    """``peers`` (five-field Pyrofork rows or four-field Kurigram rows) with each username and
    phone number replaced by its token (``None`` stays ``None``)."""
    user, phone = index.username, index.phone
    out: list[AnyPeerRow] = []
    for row in peers:
        if len(row) == 5:
            peer_id, access_hash, peer_type, name, number = row
            out.append(
                (
                    peer_id,
                    access_hash,
                    peer_type,
                    None if name is None else user(name),
                    None if number is None else phone(number),
                )
            )
        else:
            peer_id, access_hash, peer_type, number = row
            out.append((peer_id, access_hash, peer_type, None if number is None else phone(number)))
    return out


def seal_username_rows(index: PeerIndex, usernames: Iterable[UsernameRow]) -> list[UsernameRow]:
    """``usernames`` rows, ``(peer_id, username)`` or ``(peer_id, [username, ...])``, with
    each username replaced by its token (``None`` entries of a list stay ``None``)."""
    user = index.username
    return [
        (peer_id, user(names))
        if isinstance(names, str)
        else (peer_id, [None if name is None else user(name) for name in names])
        for peer_id, names in usernames
    ]


class SealedPeerMethods:
    """Mixed into a wrapper whose :meth:`_open` gives its :class:`SealedAuthKey`: when that
    holds an index key, usernames and phone numbers reach ``inner`` only as tokens."""

    inner: Storage

    def _open(self) -> SealedAuthKey:
        raise NotImplementedError

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        field = self._open()
        index = field.peer_index
        if index is None:
            await self.inner.update_peers(peers)
            return
        await field.store_index_key()
        await self.inner.update_peers(self._sealed_as_taken(index, peers))

    def _sealed_as_taken(
        self, index: PeerIndex, peers: Iterable[AnyPeerRow]
    ) -> Iterator[AnyPeerRow]:
        """``peers`` sealed as the inner storage takes them: one that writes a big update in
        chunks, letting other tasks run in between, computes each chunk's tokens in turn (a
        token is an HMAC: 100k peers' at once would hold the event loop for a fifth of a
        second). Raises :class:`~vault.errors.StorageClosedError` if the storage was closed
        meanwhile, since that wiped the index key."""
        source = iter(peers)
        while chunk := list(itertools.islice(source, _SEAL_CHUNK)):
            self._open()
            yield from seal_peer_rows(index, chunk)

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        field = self._open()
        index = field.peer_index
        if index is None:
            await self.inner.update_usernames(usernames)
            return
        await field.store_index_key()
        await self.inner.update_usernames(seal_username_rows(index, usernames))

    async def get_peer_by_username(self, username: str) -> Any:
        index = self._open().peer_index
        if index is None:
            return await self.inner.get_peer_by_username(username)
        try:
            return await self.inner.get_peer_by_username(index.username(username))
        except KeyError:
            raise KeyError(f"Username not found: {username}") from None

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        index = self._open().peer_index
        if index is None:
            return await self.inner.get_peer_by_phone_number(phone_number)
        try:
            return await self.inner.get_peer_by_phone_number(index.phone(phone_number))
        except KeyError:
            raise KeyError(f"Phone number not found: {phone_number}") from None

    @property
    def peer_index(self) -> PeerIndex | None:
        """The blind index of the open session's peer cache (``None``: the cache is plain).
        It holds the index key: never log it or keep it past ``close()``."""
        return self._open().peer_index

    async def seal_peer_cache(self) -> None:
        """Give a session whose peer cache is plain an index key (sealed with its auth key) so
        that usernames and phone numbers are written and looked up as tokens from now on.
        Rows already stored stay as they are and are no longer found by those values: rewrite
        them too (for a session file, ``session-vault seal-peers`` does both, safely)."""
        field = self._open()
        if field.peer_index is not None:
            return
        async with field.lock:
            auth_key = await field.read()
            field.sealer.set_index_key(new_index_key(True) or b"")
            await field.write(auth_key)

    @property
    def peers_sealed(self) -> bool:
        """Whether this session's peer cache stores tokens in place of usernames and phone
        numbers (every session created or encrypted with ``seal_peers=True``, the default)."""
        return self._open().peer_index is not None
