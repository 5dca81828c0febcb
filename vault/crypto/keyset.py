"""Keyset: one unlocked vault (its id, data key and key slots), and the slot changes on it."""

from __future__ import annotations

from ..errors import CorruptedError, KeySlotError
from . import keyring_slot
from .aead import KEY_SIZE
from .envelope import MAX_SLOTS, VAULT_ID_SIZE, Envelope, Header, Purpose, seal
from .kdf import KdfParams
from .rng import random_bytes
from .slots import (
    Credentials,
    KeyringSlot,
    PassphraseSlot,
    RawKeySlot,
    Slot,
    new_keyring_slot,
    new_passphrase_slot,
    new_raw_key_slot,
    unlock,
    unwrap,
)
from .wipe import wipe

__all__ = ["Keyset"]


class Keyset:
    """The data key (DEK) of one vault, held in a ``bytearray`` until :meth:`wipe`, and its
    slots. Slot changes re-wrap this same DEK; the data sealed under it never changes key.

    Keyring entries for new keyring slots are kept in :attr:`pending_keyring` until the caller
    stores them (just before it first writes an envelope naming them).
    """

    def __init__(
        self, vault_id: bytes, dek: bytearray, slots: tuple[Slot, ...], unlocked_by: int | None
    ) -> None:
        self.vault_id = vault_id
        self._dek = dek
        self.slots = slots
        #: Index of the slot that unlocked the vault (``None`` for a new vault).
        self.unlocked_by = unlocked_by
        self.pending_keyring: list[tuple[str, bytearray]] = []
        self._wiped = False

    def __repr__(self) -> str:
        kinds = ", ".join(slot.kind.name.lower() for slot in self.slots)
        return f"Keyset(vault_id={self.vault_id.hex()}, slots=[{kinds}])"

    # --- creating and unlocking --------------------------------------------------------------

    @classmethod
    def create(cls, creds: Credentials, kdf: KdfParams) -> Keyset:
        """A new vault with a random DEK and one slot per credential given."""
        keyset = cls(random_bytes(VAULT_ID_SIZE), bytearray(random_bytes(KEY_SIZE)), (), None)
        if creds.raw_key is not None:
            keyset.add_raw_key(creds.raw_key)
        if creds.keyring:
            keyset.add_keyring(_service(creds.keyring))
        if creds.passphrase is not None:
            keyset.add_passphrase(creds.passphrase, kdf)
        if not keyset.slots:
            raise ValueError("give a passphrase, keyring=True or a key to encrypt a session")
        return keyset

    @classmethod
    def unlock(cls, header: Header, creds: Credentials) -> Keyset:
        """Open the vault of ``header`` with ``creds``; :class:`~vault.errors.WrongKeyError`."""
        dek, index = unlock(header.vault_id, header.slots, creds)
        return cls(header.vault_id, dek, header.slots, index)

    # --- sealing -----------------------------------------------------------------------------

    def seal(self, purpose: Purpose, binding: bytes, plaintext: bytes) -> bytes:
        """An envelope of ``plaintext`` for ``purpose``, bound to ``binding``."""
        return seal(
            Header(self.vault_id, binding, self.slots), self._live_dek(), purpose, plaintext
        )

    def open(self, envelope: Envelope, purpose: Purpose) -> bytes:
        """Decrypt an envelope of this vault without running any KDF."""
        if envelope.header.vault_id != self.vault_id:
            raise CorruptedError(
                "the stored envelope belongs to another vault than the one unlocked at open(); "
                "it was replaced while the session was open"
            )
        return envelope.open(self._live_dek(), purpose)

    def _live_dek(self) -> bytearray:
        if self._wiped:
            raise CorruptedError("this vault was closed and its key wiped; open it again")
        return self._dek

    # --- slots -------------------------------------------------------------------------------

    def _append(self, slot: Slot) -> None:
        if len(self.slots) >= MAX_SLOTS:
            raise KeySlotError(f"a vault has at most {MAX_SLOTS} key slots; remove one first")
        self.slots = (*self.slots, slot)

    def add_passphrase(self, passphrase: bytearray, kdf: KdfParams) -> None:
        """Add a passphrase slot (one Argon2id run)."""
        self._append(new_passphrase_slot(passphrase, kdf, self._live_dek(), self.vault_id))

    def replace_passphrase(self, index: int, passphrase: bytearray, kdf: KdfParams) -> None:
        """Replace the passphrase slot at ``index`` by one for ``passphrase``."""
        if not isinstance(self.slots[index], PassphraseSlot):
            raise KeySlotError(f"slot {index} is not a passphrase slot")
        new = new_passphrase_slot(passphrase, kdf, self._live_dek(), self.vault_id)
        self.slots = tuple(new if i == index else s for i, s in enumerate(self.slots))

    def add_keyring(self, service: str) -> None:
        """Add a keyring slot; its key waits in :attr:`pending_keyring` to be stored."""
        if any(isinstance(s, KeyringSlot) and s.service == service for s in self.slots):
            raise KeySlotError(f"this vault already has a keyring slot for service {service!r}")
        keyring_slot.check_backend()
        slot, kek = new_keyring_slot(service, self._live_dek(), self.vault_id)
        self._append(slot)
        self.pending_keyring.append((service, kek))

    def add_raw_key(self, key: bytes | bytearray) -> None:
        """Add a slot for a caller-supplied 32-byte key."""
        if self.find_raw_key(key) is not None:
            raise KeySlotError("this vault already has a slot for that raw key")
        self._append(new_raw_key_slot(key, self._live_dek(), self.vault_id))

    def find_raw_key(self, key: bytes | bytearray) -> int | None:
        """Index of the raw-key slot ``key`` opens, if any."""
        for index, slot in enumerate(self.slots):
            if isinstance(slot, RawKeySlot):
                dek = unwrap(key, slot, self.vault_id)
                if dek is not None:
                    wipe(dek)
                    return index
        return None

    def remove(self, index: int) -> Slot:
        """Remove the slot at ``index``; never the last one."""
        if not 0 <= index < len(self.slots):
            raise KeySlotError(f"there is no key slot {index} (this vault has {len(self.slots)})")
        if len(self.slots) == 1:
            raise KeySlotError(
                "refusing to remove the last key slot: nothing could unlock the session "
                "afterwards; add another slot first"
            )
        removed = self.slots[index]
        self.slots = self.slots[:index] + self.slots[index + 1 :]
        if self.unlocked_by is not None:
            self.unlocked_by = (
                None if self.unlocked_by == index else self.unlocked_by - (self.unlocked_by > index)
            )
        return removed

    def drop_pending(self) -> None:
        """Forget (and wipe) keyring keys that were never stored."""
        for _, kek in self.pending_keyring:
            wipe(kek)
        self.pending_keyring.clear()

    def wipe(self) -> None:
        """Overwrite the DEK and any unsaved keyring keys."""
        wipe(self._dek)
        self._wiped = True
        self.drop_pending()


def _service(keyring: bool | str) -> str:
    return keyring if isinstance(keyring, str) else keyring_slot.DEFAULT_SERVICE
