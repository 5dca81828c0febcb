"""KeySlots: the key-slot management of an open EncryptedStorage (``storage.slots``).

Adding a slot wraps the current data key (DEK) for one more credential. Removing a slot or
changing a passphrase rotates the DEK: a fresh one, every remaining slot re-wrapped under its
key-encryption key (KEK), the auth key sealed anew, stale copies purged. A credential removed
or replaced then opens only copies made before the change (backups, earlier ``vault1:``
strings), and gets from them only the auth key those copies hold.

Re-wrapping a slot needs its KEK. vault holds the KEK of the slot that unlocked the session,
of slots added since, and of slots proven with :meth:`KeySlots.cover`; keyring slots' KEKs are
read from the keyring. A change that would keep a slot whose KEK vault does not hold is refused
(nothing changes): prove that slot with :meth:`KeySlots.cover`, or remove it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator

from .auth_key_field import SealedAuthKey
from .crypto import keyring_slot
from .crypto.kdf import DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase, passphrase_bytes
from .crypto.keyset import Keyset
from .crypto.slots import Credentials, KeyringSlot, PassphraseSlot, Slot, check_raw_key
from .crypto.wipe import wipe
from .errors import KeySlotError

__all__ = ["KeySlotMethods", "KeySlots", "delete_keyring_entries"]


class KeySlots:
    """The key slots of one open :class:`~vault.EncryptedStorage`; get it as
    ``storage.slots``. Iterating gives the slots (kinds, KDF parameters, keyring services;
    no secrets); every change is stored at once, or on failure not at all."""

    def __init__(
        self, field: SealedAuthKey, kdf: KdfParams, kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET
    ) -> None:
        self._field = field
        self._kdf = kdf
        self._kdf_budget = kdf_budget

    def __repr__(self) -> str:
        kinds = ", ".join(slot.kind.name.lower() for slot in self.all)
        return f"KeySlots([{kinds}], unlocked_by={self.unlocked_by})"

    @property
    def _keyset(self) -> Keyset:
        return self._field.sealer.keyset

    @property
    def all(self) -> tuple[Slot, ...]:
        """The slots, in stored order (their indexes are the ones the methods take)."""
        return self._keyset.slots

    def __iter__(self) -> Iterator[Slot]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def __getitem__(self, index: int) -> Slot:
        return self.all[index]

    @property
    def unlocked_by(self) -> int | None:
        """Index of the slot that unlocked the session (``None``: a new vault, or that slot
        was removed or replaced since)."""
        return self._keyset.unlocked_by

    def uncovered(self) -> tuple[int, ...]:
        """Indexes of the slots a rotating change could not re-wrap yet (see :meth:`cover`)."""
        return self._keyset.uncovered()

    def needs_rekey(self) -> bool:
        """Whether a passphrase slot uses other KDF parameters than the storage's ``kdf``;
        if so, :meth:`change_passphrase` (with the same passphrase) upgrades it."""
        return any(isinstance(s, PassphraseSlot) and s.kdf != self._kdf for s in self.all)

    async def cover(
        self,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
    ) -> tuple[int, ...]:
        """Prove more slots with their credentials so a later removal or passphrase change
        can keep them; returns their indexes (:class:`~vault.errors.WrongKeyError` if none)."""
        creds = Credentials.from_args(passphrase, keyring, key, self._kdf_budget)
        try:
            return await asyncio.to_thread(self._keyset.cover, creds)
        finally:
            creds.wipe()

    async def add_passphrase(self, passphrase: Passphrase, *, kdf: KdfParams | None = None) -> None:
        """Add a passphrase slot (runs Argon2id once)."""
        params = kdf or self._kdf
        await self._with_passphrase(passphrase, lambda ks, pw: ks.add_passphrase(pw, params))

    async def add_keyring(self, service: str = keyring_slot.DEFAULT_SERVICE) -> None:
        """Add a keyring slot: a random key stored in the OS keyring under ``service``."""
        await self._change(lambda ks: ks.add_keyring(service), rotate=False)

    async def add_key(self, key: bytes) -> None:
        """Add a slot for a 32-byte raw key."""
        check_raw_key(key)
        await self._change(lambda ks: ks.add_raw_key(key), rotate=False)

    async def change_passphrase(
        self, new_passphrase: Passphrase, *, kdf: KdfParams | None = None
    ) -> None:
        """Replace the passphrase slot that unlocked the session (or its only passphrase
        slot) by one for ``new_passphrase``, and rotate the data key."""
        indexes = [i for i, s in enumerate(self.all) if isinstance(s, PassphraseSlot)]
        index = self.unlocked_by if self.unlocked_by in indexes else None
        if index is None and len(indexes) == 1:
            index = indexes[0]
        if index is None:
            raise KeySlotError(
                "cannot tell which passphrase slot to change (there are "
                f"{len(indexes)}); open the session with the passphrase to change, or use "
                "add_passphrase()/remove()"
            )
        target, params = index, kdf or self._kdf
        await self._with_passphrase(
            new_passphrase, lambda ks, pw: ks.replace_passphrase(target, pw, params), rotate=True
        )

    async def remove(self, index: int) -> None:
        """Remove slot ``index`` (never the last one) and rotate the data key. A keyring
        slot's entry is deleted from the keyring too."""
        removed: list[Slot] = []
        await self._change(lambda ks: removed.append(ks.remove(index)), rotate=True)
        await delete_keyring_entries(removed, self._keyset.vault_id)

    async def remove_key(self, key: bytes) -> None:
        """Remove the slot that the raw ``key`` opens (see :meth:`remove`)."""
        index = self._keyset.find_raw_key(key)
        if index is None:
            raise KeySlotError("no key slot of this session opens with that raw key")
        await self.remove(index)

    async def rotate(self) -> None:
        """Rotate the data key without changing the slots."""
        await self._change(lambda ks: None, rotate=True)

    async def _with_passphrase(
        self,
        passphrase: Passphrase,
        change: Callable[[Keyset, bytearray], object],
        *,
        rotate: bool = False,
    ) -> None:
        secret = passphrase_bytes(passphrase)
        try:
            await self._change(lambda ks: change(ks, secret), rotate=rotate)
        finally:
            wipe(secret)

    async def _change(self, change: Callable[[Keyset], object], *, rotate: bool) -> None:
        """Apply ``change`` (and a rotation) to a copy of the keyset, re-seal the stored auth
        key with it, then adopt it; on failure nothing stored or held changes."""
        field = self._field
        async with field.lock:
            candidate = self._keyset.copy()
            sealer = field.sealer.with_keyset(candidate)
            try:
                plain = await field.read()

                def apply() -> None:
                    change(candidate)
                    if rotate:
                        candidate.rotate()

                await asyncio.to_thread(apply)
                if plain is not None or sealer.index_key is not None:
                    await field.write(plain, sealer=sealer, purge=True)
            except BaseException:
                sealer.close()
                raise
            self._keyset.adopt(candidate)
            sealer.forget()


async def delete_keyring_entries(slots: Iterable[Slot], vault_id: bytes) -> None:
    """Delete the keyring entries of the keyring slots among ``slots``."""
    for slot in slots:
        if isinstance(slot, KeyringSlot):
            await asyncio.to_thread(keyring_slot.delete_secret, slot.service, vault_id)


class KeySlotMethods:
    """Mixed into a wrapper whose :meth:`_open` gives its :class:`SealedAuthKey` and that
    sets ``_kdf`` and ``_kdf_budget``: :attr:`slots`, and the slot methods
    :class:`~vault.EncryptedStorage` had before :class:`KeySlots` (each calls :attr:`slots`)."""

    _kdf: KdfParams
    _kdf_budget: KdfBudget

    def _open(self) -> SealedAuthKey:
        raise NotImplementedError

    @property
    def slots(self) -> KeySlots:
        """The key slots of the open storage: list, add, remove, change (see KeySlots)."""
        return KeySlots(self._open(), self._kdf, self._kdf_budget)

    def needs_rekey(self) -> bool:
        """See :meth:`KeySlots.needs_rekey`."""
        return self.slots.needs_rekey()

    async def add_passphrase(self, passphrase: Passphrase, *, kdf: KdfParams | None = None) -> None:
        """See :meth:`KeySlots.add_passphrase`."""
        await self.slots.add_passphrase(passphrase, kdf=kdf)

    async def change_passphrase(
        self, new_passphrase: Passphrase, *, kdf: KdfParams | None = None
    ) -> None:
        """See :meth:`KeySlots.change_passphrase`."""
        await self.slots.change_passphrase(new_passphrase, kdf=kdf)

    async def add_keyring(self, service: str = keyring_slot.DEFAULT_SERVICE) -> None:
        """See :meth:`KeySlots.add_keyring`."""
        await self.slots.add_keyring(service)

    async def add_key(self, key: bytes) -> None:
        """See :meth:`KeySlots.add_key`."""
        await self.slots.add_key(key)

    async def remove_slot(self, index: int) -> None:
        """See :meth:`KeySlots.remove`."""
        await self.slots.remove(index)

    async def remove_key(self, key: bytes) -> None:
        """See :meth:`KeySlots.remove_key`."""
        await self.slots.remove_key(key)
