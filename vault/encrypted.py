"""EncryptedStorage: wraps any Storage so the auth key never reaches it in the clear."""

from __future__ import annotations

import asyncio
from typing import Any

from .auth_key_field import SealedAuthKey, new_index_key, purge_stale_copies
from .crypto.envelope import Envelope
from .crypto.identity import SessionIdentity
from .crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from .crypto.sealer import PLAIN_STRING, AuthKeySealer, is_plain_auth_key
from .crypto.slots import Credentials, Slot
from .crypto.strings import open_string, parse_any_string
from .errors import PlaintextSessionError, StorageClosedError, StorageNotOpenError
from .keyslots import KeySlotMethods, delete_keyring_entries
from .sealed_fields import SealedFieldMethods
from .sealed_peers import SealedPeerMethods
from .storage.base import Storage
from .unlock_args import UnlockArgs
from .wrapping import WrappingStorage

__all__ = ["EncryptedStorage"]


class EncryptedStorage(KeySlotMethods, SealedFieldMethods, SealedPeerMethods, WrappingStorage):
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
    :meth:`encrypt_plaintext`), changing nothing; a failed ``open()`` closes the inner
    storage, so try again with a new object. ``migrate=True`` is deprecated.

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
        self._kdf, self._kdf_budget = kdf, kdf_budget
        self._rebind, self._seal_peers = rebind, seal_peers
        # Whether a plaintext key may be sealed: a plain session_string, or any (see below).
        self._plain_ok, self._replace_plaintext = migrate, False
        self._failed = False  # open() failed: this object and its inner storage are closed
        self._initial = None if session_string is None else parse_any_string(session_string)
        self._sealed: SealedAuthKey | None = None
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
        self._check_not_failed()
        await self.inner.open()
        try:
            creds = self._args.take()
            try:
                self._sealed = await self._unlock(creds)
                self._vault_id = self._sealed.sealer.keyset.vault_id
            finally:
                creds.wipe()
        except BaseException:
            self._failed = True
            await self.close()
            raise

    async def _unlock(self, creds: Credentials) -> SealedAuthKey:
        initial, self._initial = self._initial, None
        if initial is None:
            return await SealedAuthKey.open(
                self.inner,
                self.name,
                creds,
                self._kdf,
                rebind=self._rebind,
                accept_plaintext=self._replace_plaintext,
                seal_peers=self._seal_peers,
            )
        if not (isinstance(initial, Envelope) or self._plain_ok):
            raise PlaintextSessionError(PLAIN_STRING)
        stored = await self.inner.auth_key()
        keyset, data = await asyncio.to_thread(open_string, initial, creds, self._kdf)
        # Bound to the string's fields from the start: loading them re-seals nothing.
        identity = SessionIdentity.stored(data.dc_id, data.test_mode, data.user_id)
        sealer = AuthKeySealer(
            keyset, self.name, identity, index_key=new_index_key(self._seal_peers)
        )
        self._sealed = SealedAuthKey(self.inner, sealer)  # the accessors load_session_data uses
        await self.load_session_data(data)
        if is_plain_auth_key(stored):  # replaced: it must not stay in journals or the WAL
            await purge_stale_copies(self.inner)
        return self._sealed

    def _check_not_failed(self) -> None:
        if self._failed:
            raise StorageClosedError(
                f"{self!r}: its open() failed, which closed it and its inner storage; create "
                "new ones, with the right passphrase, keyring or key, to try again"
            )

    def _open(self) -> SealedAuthKey:
        if self._sealed is None:
            self._check_not_failed()
            self._check_open()  # raises before open() and after close()
            if self._vault_id:  # opened, and close() has begun
                raise StorageClosedError(f"{self!r} is closing; create a new storage object")
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return self._sealed

    async def close(self) -> None:
        """Wipe the keys and close the inner storage; again, or before ``open()``: no-op."""
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

    @property
    def key_slots(self) -> tuple[Slot, ...]:
        """The vault's key slots (no secrets), kept after ``close()``; see :attr:`slots`."""
        return self._slots if self._sealed is None else self._sealed.sealer.keyset.slots
