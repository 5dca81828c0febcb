"""EncryptedStorage: wraps any Storage so the auth key never reaches it in the clear."""

from __future__ import annotations

import asyncio
from typing import Any

from .auth_key_field import SealedAuthKey, new_index_key, purge_stale_copies
from .crypto.envelope import Envelope
from .crypto.identity import SessionIdentity
from .crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from .crypto.keyset import Keyset
from .crypto.sealer import PLAIN_STRING, AuthKeySealer, is_plain_auth_key
from .crypto.slots import Credentials, Slot
from .crypto.strings import open_session, parse_any_string, seal_session
from .errors import (
    PlaintextSessionError,
    StorageClosedError,
    StorageNotOpenError,
    StorageStateError,
)
from .keyslots import KeySlotMethods, KeySlots, delete_keyring_entries
from .sealed_peers import SealedPeerMethods
from .storage.base import UNSET, Storage, Unset
from .unlock_args import UnlockArgs
from .wrapping import WrappingStorage

__all__ = ["EncryptedStorage"]


class EncryptedStorage(KeySlotMethods, SealedPeerMethods, WrappingStorage):
    """A :class:`~vault.storage.Storage` that seals the auth key before the inner storage
    sees it; everything else passes straight through. Clients use it like the one it wraps::

        storage = EncryptedStorage(FileStorage("my_account"), passphrase=os.environ["PW"])
        storage = EncryptedStorage(MemoryStorage(), keyring=True, session_string=ENCRYPTED)

    Unlock with any of ``passphrase`` (str, bytes, or a zero-argument callable read at
    ``open()``), ``keyring`` (``True`` or a service name) and ``key`` (32 bytes); a new session
    gets one key slot per credential given (:attr:`slots` manages them). ``open()`` raises
    :class:`~vault.errors.WrongKeyError` (nothing given unlocks it),
    :class:`~vault.errors.CorruptedError` (modified, swapped with another session's, or its
    ``dc_id``, ``test_mode`` or ``user_id`` changed outside vault: after a rename or such an
    edit on purpose, open once with ``rebind=True``) or
    :class:`~vault.errors.PlaintextSessionError` (a plaintext auth key, never accepted: see
    :meth:`encrypt_plaintext`), changing nothing. ``migrate=True`` is deprecated.

    Passphrase slots' stored costs are read before anything is authenticated, so ``open()``
    spends at most ``kdf_budget`` (:class:`~vault.crypto.KdfBudget`) and skips slots over it
    (:class:`~vault.errors.KdfBudgetError` if nothing else opens); a higher ``kdf`` needs
    ``kdf_budget=KdfBudget.admitting(kdf)``.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
        session_string: str | None = None,
        migrate: bool = False,
        kdf: KdfParams = DEFAULT_KDF,
        rebind: bool = False,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
        seal_peers: bool = True,
    ) -> None:
        self._args = UnlockArgs(passphrase, keyring, key, kdf, kdf_budget, migrate=migrate)
        super().__init__(inner)
        inner.expects_envelopes = True  # the inner storage hands its envelopes to us
        self._kdf, self._rebind, self._plain_ok = kdf, rebind, migrate
        self._replace_plaintext = False
        self._seal_peers = seal_peers
        self._initial = None if session_string is None else parse_any_string(session_string)
        self._sealed: SealedAuthKey | None = None
        self._state = "new"
        # Non-secret facts kept after close(), so delete() can remove keyring entries.
        self._vault_id, self._slots = b"", tuple[Slot, ...]()

    @classmethod
    async def encrypt_plaintext(cls, inner: Storage, **kwargs: Any) -> EncryptedStorage:
        """Encrypt a plaintext session, the only way a plaintext auth key is accepted: the one
        stored in ``inner`` (or a plain ``session_string=``, replacing it) is sealed under a new
        vault and purged. Takes the constructor's arguments; returns the storage, open. Use it
        only on a session never encrypted before: in one that was, a plaintext key may have
        been planted by someone with write access. An encrypted session is just opened."""
        storage = cls(inner, **kwargs)
        storage._replace_plaintext = storage._plain_ok = True
        await storage.open()
        return storage

    def __repr__(self) -> str:
        kinds = ", ".join(slot.kind.name.lower() for slot in self.key_slots)
        return f"{type(self).__name__}({self.inner!r}, slots=[{kinds}])"

    async def open(self) -> None:
        """Open the inner storage and unlock (or create) the vault; see the class docstring."""
        if self._state == "closed":
            raise StorageClosedError(f"{self!r} was closed; create a new object to open it again")
        if self._state == "open":
            raise StorageStateError(f"{self!r} is already open; open() it only once")
        self._state = "open"
        await self.inner.open()
        try:
            creds = self._args.take()
            try:
                await self._unlock(creds)
            finally:
                creds.wipe()
        except BaseException:
            await self.close()
            raise

    async def _unlock(self, creds: Credentials) -> None:
        initial, self._initial = self._initial, None
        if initial is None:
            self._start(
                await SealedAuthKey.open(
                    self.inner,
                    self.name,
                    creds,
                    self._kdf,
                    rebind=self._rebind,
                    accept_plaintext=self._replace_plaintext,
                    seal_peers=self._seal_peers,
                )
            )
            return
        stored = await self.inner.auth_key()
        if isinstance(initial, Envelope):
            keyset = await asyncio.to_thread(Keyset.unlock, initial.header, creds)
            initial = open_session(keyset, initial)
        elif not self._plain_ok:
            raise PlaintextSessionError(PLAIN_STRING)
        else:
            keyset = await asyncio.to_thread(Keyset.create, creds, self._kdf)
        # Bound to the string's fields from the start: loading them re-seals nothing.
        identity = SessionIdentity.stored(initial.dc_id, initial.test_mode, initial.user_id)
        index_key = new_index_key(self._seal_peers)
        sealer = AuthKeySealer(keyset, self.name, identity, index_key=index_key)
        self._start(SealedAuthKey(self.inner, sealer))
        await self.load_session_data(initial)
        if is_plain_auth_key(stored):  # replaced: it must not stay in journals or the WAL
            await purge_stale_copies(self.inner)

    def _start(self, field: SealedAuthKey) -> None:
        self._sealed, self._keyslots = field, KeySlots(field, self._kdf, self._args.kdf_budget)
        self._vault_id = field.sealer.keyset.vault_id

    def _open(self) -> SealedAuthKey:
        if self._sealed is None:
            if self._state == "closed":
                raise StorageClosedError(f"{self!r} is closed; create a new storage object")
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return self._sealed

    async def close(self) -> None:
        """Wipe the keys and close the inner storage; again, or before ``open()``: no-op."""
        if self._state == "open":
            self._state = "closed"
            if self._sealed is not None:
                self._slots = self._sealed.sealer.keyset.slots
                self._sealed.close()
                self._sealed = None
            self._args.wipe()
        await self.inner.close()

    async def delete(self) -> None:
        """Delete the inner session and the vault's keyring entries (best effort)."""
        await self.inner.delete()
        await delete_keyring_entries(self.key_slots, self._vault_id)

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        """The auth key, decrypted on read and sealed before it reaches the inner storage."""
        field = self._open()
        if value is UNSET:
            return await field.read_settled()
        async with field.lock:
            await field.write(value)
        return None

    # dc_id, test_mode and user_id are bound to the sealed key: see SealedAuthKey.

    async def dc_id(self, value: int | Unset = UNSET) -> int | None:
        return await self._identity("dc_id", value)  # type: ignore[no-any-return]

    async def test_mode(self, value: bool | Unset | None = UNSET) -> bool | None:
        return await self._identity("test_mode", value)  # type: ignore[no-any-return]

    async def user_id(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._identity("user_id", value)  # type: ignore[no-any-return]

    async def _identity(self, name: str, value: Any) -> Any:
        field = self._open()
        if value is UNSET:
            return await field.read_identity(name)
        await field.write_identity(name, value)
        return None

    async def export_session_string(self) -> str:
        """The session as an encrypted string (``vault1:...``) opening with the same slots."""
        return seal_session(self._open().sealer.keyset, await self.session_data())

    async def import_session_string(self, session_string: str) -> None:
        """Load a plain string, or an encrypted one under this vault's current data key."""
        data = parse_any_string(session_string)
        if isinstance(data, Envelope):
            data = open_session(self._open().sealer.keyset, data)
        await self.load_session_data(data)

    @property
    def slots(self) -> KeySlots:
        """The key slots of the open storage: list, add, remove, change (see KeySlots)."""
        self._open()
        return self._keyslots

    @property
    def key_slots(self) -> tuple[Slot, ...]:
        """The vault's key slots (no secrets), kept after ``close()``; see :attr:`slots`."""
        return self._slots if self._sealed is None else self._sealed.sealer.keyset.slots
