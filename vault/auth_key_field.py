"""SealedAuthKey: the auth key field of an inner storage, read and written through a sealer."""

from __future__ import annotations

import asyncio
from asyncio import to_thread

from .crypto import keyring_slot
from .crypto.kdf import KdfParams
from .crypto.keyset import Keyset
from .crypto.sealer import AuthKeySealer, is_plain_auth_key, parse_stored
from .crypto.slots import Credentials
from .crypto.wipe import wipe
from .storage.base import Storage

__all__ = ["SealedAuthKey", "purge_stale_copies"]


class SealedAuthKey:
    """The one sealed field of an :class:`~vault.EncryptedStorage`: the inner storage holds
    only envelopes, the sealer turns them into the auth key and back. Writers hold
    :attr:`lock`, so a slot change and a client write never interleave."""

    def __init__(self, inner: Storage, sealer: AuthKeySealer) -> None:
        self.inner = inner
        self.sealer = sealer
        self.lock = asyncio.Lock()

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
    ) -> SealedAuthKey:
        """The field of the open storage ``inner``: unlocked with ``creds`` if it holds an
        envelope (authenticated now; re-sealed if bound to another name and ``rebind``), a new
        vault if it holds nothing. A plaintext key is sealed under a new vault and purged only
        with ``accept_plaintext``, and refused otherwise (see :func:`parse_stored`)."""
        stored = await inner.auth_key()
        if stored is None or (accept_plaintext and is_plain_auth_key(stored)):
            field = cls(inner, AuthKeySealer(await to_thread(Keyset.create, creds, kdf), name))
            if stored is not None:
                async with field.lock:
                    await field.write(bytes(stored), purge=True)
            return field
        header = parse_stored(stored, name, rebind=rebind).header
        field = cls(inner, AuthKeySealer(await to_thread(Keyset.unlock, header, creds), name))
        plain = field.sealer.open(stored, rebind=True)
        if header.binding != field.sealer.binding:
            async with field.lock:
                await field.write(plain)
        return field

    async def read(self) -> bytes | None:
        """The auth key, or ``None`` if the session holds none."""
        stored = await self.inner.auth_key()
        return None if stored is None else self.sealer.open(stored)

    async def write(
        self, value: bytes | None, *, sealer: AuthKeySealer | None = None, purge: bool = False
    ) -> None:
        """Seal (with ``sealer``, by default this field's) and store ``value`` (callers hold
        :attr:`lock`). With ``purge``, ask the inner storage to drop stale copies of what was
        there: needed when that was a plaintext key or an envelope under a retired data key;
        an older envelope under the same data key reveals nothing, so ordinary writes skip it."""
        sealer = sealer or self.sealer
        self.sealer.forget()
        if value is None:
            await self.inner.auth_key(None)
        else:
            envelope = sealer.seal(value)
            await _store_pending_keyring(sealer.keyset)
            await self.inner.auth_key(envelope)
        if purge:
            await purge_stale_copies(self.inner)


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
