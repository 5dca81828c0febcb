"""SealedAuthKey: the auth key field of an inner storage, read and written through a sealer,
and the session fields its envelope binds (``dc_id``, ``test_mode``, ``user_id``)."""

from __future__ import annotations

import asyncio
from asyncio import to_thread
from typing import Any

from .crypto import keyring_slot
from .crypto.identity import SessionIdentity
from .crypto.kdf import KdfParams
from .crypto.keyset import Keyset, open_keyset
from .crypto.peer_index import INDEX_KEY_SIZE, PeerIndex
from .crypto.rng import random_bytes
from .crypto.sealer import AuthKeySealer, is_plain_auth_key, parse_stored
from .crypto.slots import Credentials
from .crypto.wipe import wipe
from .storage.base import Storage

__all__ = ["SealedAuthKey", "new_index_key", "purge_stale_copies", "stored_identity"]


class SealedAuthKey:
    """The one sealed field of an :class:`~vault.EncryptedStorage`: the inner storage holds
    only envelopes, the sealer turns them into the auth key and back. Writers hold
    :attr:`lock`, so a slot change and a client write never interleave.

    The envelope binds the identity fields stored next to it (``docs/format.md``, "v2:
    identity binding"): they are checked against it when the session opens, when the stored
    envelope is not the one last sealed or opened, and when a read of one of them through
    :meth:`read_identity` differs from the bound value; writing one through
    :meth:`write_identity` re-seals the auth key for the new value."""

    def __init__(self, inner: Storage, sealer: AuthKeySealer) -> None:
        self.inner = inner
        self.sealer = sealer
        self.lock = asyncio.Lock()
        #: Whether the stored envelope holds the sealer's index key (if it has one).
        self._index_stored = False
        self._peer_index: PeerIndex | None = None

    @property
    def peer_index(self) -> PeerIndex | None:
        """The blind index over the sealer's index key (``None``: the peer cache is plain)."""
        if self._peer_index is None:
            key = self.sealer.index_key
            if key is not None:
                self._peer_index = PeerIndex(key)
        return self._peer_index

    def close(self) -> None:
        """Wipe the sealer and the index key; the field cannot be used afterwards."""
        if self._peer_index is not None:
            self._peer_index.wipe()
            self._peer_index = None
        self.sealer.close()

    @classmethod
    async def open(
        cls,
        inner: Storage,
        name: str,
        creds: Credentials,
        kdf: KdfParams,
        *,
        rebind: bool = False,
        accept_plaintext: bool = False,
        seal_peers: bool = False,
    ) -> SealedAuthKey:
        """The field of the open storage ``inner``: unlocked with ``creds`` if it holds an
        envelope (authenticated now, with the identity fields stored next to it; re-sealed if
        of version 1, or, with ``rebind``, bound to another name or identity), a new vault if
        it holds nothing. A plaintext key is sealed under a new vault and purged only with
        ``accept_plaintext``, and refused otherwise (see :func:`parse_stored`). A new vault
        gets a fresh peer index key if ``seal_peers``; an existing one keeps what it holds."""
        stored = await inner.auth_key()
        identity = await stored_identity(inner)
        if stored is None or (accept_plaintext and is_plain_auth_key(stored)):
            keyset = await to_thread(open_keyset, creds, kdf=kdf)
            sealer = AuthKeySealer(keyset, name, identity, index_key=new_index_key(seal_peers))
            field = cls(inner, sealer)
            if stored is not None:
                async with field.lock:
                    await field.write(bytes(stored), purge=True)
            return field
        # Checked before any KDF runs: a mismatch costs the caller nothing.
        header = parse_stored(stored, name, rebind=rebind, identity=identity).header
        keyset = await to_thread(open_keyset, creds, header)
        field = cls(inner, AuthKeySealer(keyset, name, identity))
        plain = field.sealer.open(stored, rebind=True)
        field._index_stored = field.sealer.index_key is not None
        if field.sealer.needs_rebind(stored):
            async with field.lock:
                await field.write(plain)
        return field

    async def store_index_key(self) -> None:
        """Make sure the stored envelope holds the sealer's index key (a new vault's is sealed
        only with the first write), before anything indexed under it is stored."""
        if self.sealer.index_key is None or self._index_stored:
            return
        async with self.lock:
            if not self._index_stored:
                await self.write(await self.read())

    async def read(self) -> bytes | None:
        """The auth key, or ``None`` if the session holds none. An envelope other than the one
        last sealed or opened is checked against the identity fields stored now."""
        stored = await self.inner.auth_key()
        if stored is None:
            return None
        if self.sealer.is_cached(stored):
            return self.sealer.open(stored)
        return self.sealer.open(stored, identity=await stored_identity(self.inner))

    async def read_settled(self) -> bytes | None:
        """:meth:`read` for callers not holding :attr:`lock`: an envelope other than the cached
        one is opened once a write in progress is done, so the field and the envelope of an
        identity change are seen together."""
        stored = await self.inner.auth_key()
        if stored is None:
            return None
        if self.sealer.is_cached(stored):
            return self.sealer.open(stored)
        async with self.lock:
            return await self.read()

    async def read_identity(self, name: str) -> Any:
        """The identity field ``name`` of the inner storage (callers do not hold :attr:`lock`),
        checked: a value other than the bound one is accepted only if the stored envelope is
        bound to it (another writer re-sealed it), else :class:`~vault.errors.CorruptedError`."""
        value = await getattr(self.inner, name)()
        if value == getattr(self.sealer.identity, name):
            return value
        async with self.lock:  # an identity write in progress finishes first
            value = await getattr(self.inner, name)()
            if value != getattr(self.sealer.identity, name):
                stored = await self.inner.auth_key()
                identity = await stored_identity(self.inner)
                if stored is None:  # no key, nothing bound
                    self.sealer.identity = identity
                else:
                    self.sealer.open(stored, identity=identity)
        return value

    async def write_identity(self, name: str, value: Any) -> None:
        """Store the identity field ``name`` and re-seal the stored auth key for it (the field
        first: a crash in between leaves a mismatch that ``rebind=True`` resolves)."""
        async with self.lock:
            identity = self.sealer.identity.changed(name, value)
            if identity == self.sealer.identity:
                await getattr(self.inner, name)(value)
                return
            stored = await self.inner.auth_key()
            plain = None if stored is None else await self.read()  # verified before any change
            await getattr(self.inner, name)(value)
            self.sealer.identity = identity
            if stored is not None:
                await self.write(plain)

    async def write(
        self, value: bytes | None, *, sealer: AuthKeySealer | None = None, purge: bool = False
    ) -> None:
        """Seal (with ``sealer``, by default this field's) and store ``value`` (callers hold
        :attr:`lock`); with an index key, ``None`` stores an envelope holding only that. With
        ``purge``, ask the inner storage to drop stale copies of what was there: needed when
        that was a plaintext key or an envelope under a retired data key; an older envelope
        under the same data key reveals nothing, so ordinary writes skip it."""
        sealer = sealer or self.sealer
        self.sealer.forget()
        if value is None and sealer.index_key is None:
            await self.inner.auth_key(None)
        else:
            envelope = sealer.seal(value)
            await _store_pending_keyring(sealer.keyset)
            await self.inner.auth_key(envelope)
            self._index_stored = sealer.index_key is not None
        if purge:
            await purge_stale_copies(self.inner)


def new_index_key(seal_peers: bool) -> bytes | None:
    """A fresh peer index key for a new vault if ``seal_peers``, else ``None``."""
    return random_bytes(INDEX_KEY_SIZE) if seal_peers else None


async def stored_identity(inner: Storage) -> SessionIdentity:
    """The identity fields as ``inner`` holds them now."""
    return SessionIdentity.stored(
        await inner.dc_id(), await inner.test_mode(), await inner.user_id()
    )


async def _store_pending_keyring(keyset: Keyset) -> None:
    """Store new keyring slots' keys just before the first envelope naming them."""
    while keyset.pending_keyring:
        service, kek = keyset.pending_keyring[0]
        await asyncio.to_thread(keyring_slot.store_secret, service, keyset.vault_id, kek)
        keyset.pending_keyring.pop(0)
        wipe(kek)


async def purge_stale_copies(inner: Storage) -> None:
    """Ask the inner storage to drop stale copies of the old value (journals, WAL)."""
    purge = getattr(inner, "purge_stale_copies", None)
    if purge is not None:
        await purge()
