"""Keyset: one unlocked vault (its id, data key and key slots), the slot changes on it, and
the rotation of its data key."""

from __future__ import annotations

from ..errors import CorruptedError, KeySlotError, WrongKeyError
from . import keyring_slot
from .aead import KEY_SIZE
from .envelope import MAX_SLOTS, VAULT_ID_SIZE, Envelope, Header, Purpose, seal
from .identity import NO_IDENTITY, SessionIdentity
from .kdf import DEFAULT_KDF, KdfParams
from .rng import random_bytes
from .slots import (
    Credentials,
    KeyringSlot,
    PassphraseSlot,
    RawKeySlot,
    Slot,
    check_raw_key,
    new_keyring_slot,
    new_passphrase_slot,
    rewrap,
    unlock,
    unwrap,
)
from .wipe import wipe

__all__ = ["Keyset", "open_keyset"]


class Keyset:
    """The data key (DEK) of one vault, held in a ``bytearray`` until :meth:`wipe`, and its
    slots.

    It also holds the key-encryption key (KEK) of every slot it can re-wrap: the slot that
    unlocked it, slots added since, and slots proven with :meth:`cover`. Keyring slots need
    none: their KEK is read from the keyring. :meth:`rotate` replaces the DEK by a fresh one and
    re-wraps every slot under its KEK; it refuses (changing nothing) if a slot's KEK is unknown,
    since re-wrapping a slot needs its secret and dropping it silently would lock its owner out.

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
        self._keks: dict[Slot, bytearray] = {}
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
        keyset = cls(header.vault_id, dek, header.slots, index)
        keyset._keep(header.slots[index], creds.take_kek())
        return keyset

    def cover(self, creds: Credentials) -> tuple[int, ...]:
        """Prove more slots with ``creds`` so :meth:`rotate` can re-wrap them; returns the
        indexes of the slots newly covered (:class:`~vault.errors.WrongKeyError` if none)."""
        covered = []
        for index, slot in enumerate(self.slots):
            if slot in self._keks or isinstance(slot, KeyringSlot):
                continue
            try:
                dek, _ = unlock(self.vault_id, (slot,), creds)
            except WrongKeyError:
                continue
            same = dek == self._live_dek()
            wipe(dek)
            kek = creds.take_kek()
            if same:
                self._keep(slot, kek)
                covered.append(index)
            elif kek is not None:
                wipe(kek)
        if not covered:
            raise WrongKeyError("the credentials given open no other key slot of this session")
        return tuple(covered)

    def uncovered(self) -> tuple[int, ...]:
        """Indexes of the slots :meth:`rotate` cannot re-wrap (their KEK is unknown)."""
        return tuple(
            i
            for i, slot in enumerate(self.slots)
            if slot not in self._keks and not isinstance(slot, KeyringSlot)
        )

    def _keep(self, slot: Slot, kek: bytearray | None) -> None:
        if kek is not None:
            old = self._keks.pop(slot, None)
            if old is not None:
                wipe(old)
            self._keks[slot] = kek

    # --- sealing -----------------------------------------------------------------------------

    def seal(
        self,
        purpose: Purpose,
        binding: bytes,
        plaintext: bytes,
        identity: SessionIdentity = NO_IDENTITY,
    ) -> bytes:
        """An envelope of ``plaintext`` for ``purpose``, bound to ``binding`` and
        ``identity``."""
        header = Header(self.vault_id, binding, self.slots, identity)
        return seal(header, self._live_dek(), purpose, plaintext)

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

    # --- copies, for changes that may be rolled back ---------------------------------------

    def copy(self) -> Keyset:
        """An independent copy (own DEK and KEK buffers) to change and then :meth:`adopt`
        or :meth:`wipe`."""
        other = Keyset(self.vault_id, bytearray(self._live_dek()), self.slots, self.unlocked_by)
        other._keks = {slot: bytearray(kek) for slot, kek in self._keks.items()}
        return other

    def adopt(self, other: Keyset) -> None:
        """Take over ``other``'s state (a changed :meth:`copy`), wiping this one's old keys."""
        wipe(self._dek)
        for kek in self._keks.values():
            wipe(kek)
        self._dek, self.slots, self.unlocked_by = other._dek, other.slots, other.unlocked_by
        self._keks, self.pending_keyring = other._keks, other.pending_keyring
        other._dek, other._keks, other.pending_keyring = bytearray(), {}, []
        other._wiped = True

    # --- slots -------------------------------------------------------------------------------

    def _append(self, slot: Slot, kek: bytearray) -> None:
        if len(self.slots) >= MAX_SLOTS:
            wipe(kek)
            raise KeySlotError(f"a vault has at most {MAX_SLOTS} key slots; remove one first")
        self.slots = (*self.slots, slot)
        self._keep(slot, kek)

    def _wrapped(self, slot: Slot, kek: bytearray | bytes) -> Slot:
        return rewrap(slot, kek, self._live_dek(), self.vault_id)

    def add_passphrase(self, passphrase: bytearray, kdf: KdfParams) -> None:
        """Add a passphrase slot (one Argon2id run)."""
        self._append(*new_passphrase_slot(passphrase, kdf, self._live_dek(), self.vault_id))

    def replace_passphrase(self, index: int, passphrase: bytearray, kdf: KdfParams) -> None:
        """Replace the passphrase slot at ``index`` by one for ``passphrase``."""
        old = self.slots[index]
        if not isinstance(old, PassphraseSlot):
            raise KeySlotError(f"slot {index} is not a passphrase slot")
        new, kek = new_passphrase_slot(passphrase, kdf, self._live_dek(), self.vault_id)
        self.slots = tuple(new if i == index else s for i, s in enumerate(self.slots))
        stale = self._keks.pop(old, None)
        if stale is not None:
            wipe(stale)
        self._keep(new, kek)

    def add_keyring(self, service: str) -> None:
        """Add a keyring slot; its key waits in :attr:`pending_keyring` to be stored."""
        if any(isinstance(s, KeyringSlot) and s.service == service for s in self.slots):
            raise KeySlotError(f"this vault already has a keyring slot for service {service!r}")
        keyring_slot.check_backend()
        slot, kek = new_keyring_slot(service, self._live_dek(), self.vault_id)
        self._append(slot, bytearray(kek))
        self.pending_keyring.append((service, kek))

    def add_raw_key(self, key: bytes | bytearray) -> None:
        """Add a slot for a caller-supplied 32-byte key."""
        check_raw_key(key)
        if self.find_raw_key(key) is not None:
            raise KeySlotError("this vault already has a slot for that raw key")
        self._append(self._wrapped(RawKeySlot(b""), key), bytearray(key))

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
        kek = self._keks.pop(removed, None)
        if kek is not None:
            wipe(kek)
        if self.unlocked_by is not None:
            self.unlocked_by = (
                None if self.unlocked_by == index else self.unlocked_by - (self.unlocked_by > index)
            )
        return removed

    def rotate(self) -> None:
        """Replace the DEK by a fresh random one and re-wrap every slot under its KEK, so
        credentials removed before cannot open anything sealed from now on. Reads keyring
        slots' KEKs from the keyring; :class:`~vault.errors.KeySlotError` (nothing changed)
        if a slot's KEK is unknown (see :meth:`cover`)."""
        missing = self.uncovered()
        if missing:
            kinds = ", ".join(f"{i} ({self.slots[i].kind.name.lower()})" for i in missing)
            raise KeySlotError(
                "removing a slot or changing a passphrase replaces the data key, which needs the "
                f"secret of every slot kept, and vault does not hold it for slot(s) {kinds}: give "
                "it too (in Python: storage.slots.cover(...)), or remove those slots first"
            )
        keks = dict(self._keks)
        loaded: list[bytearray] = []
        try:
            for slot in self.slots:
                if slot not in keks and isinstance(slot, KeyringSlot):
                    kek = self._keyring_kek(slot)
                    loaded.append(kek)
                    keks[slot] = kek
            dek = bytearray(random_bytes(KEY_SIZE))
            new = tuple(rewrap(slot, keks[slot], dek, self.vault_id) for slot in self.slots)
        finally:
            for kek in loaded:
                wipe(kek)
        wipe(self._dek)
        self._dek = dek
        self._keks = {new[i]: keks[old] for i, old in enumerate(self.slots) if old in self._keks}
        self.slots = new

    def _keyring_kek(self, slot: KeyringSlot) -> bytearray:
        kek = keyring_slot.load_secret(slot.service, self.vault_id)
        if kek is None or (dek := unwrap(kek, slot, self.vault_id)) is None:
            raise KeySlotError(
                f"the OS keyring holds no valid key for this session's keyring slot "
                f"({slot.service!r}), so the data key cannot be replaced; remove that slot first"
            )
        wipe(dek)
        return kek

    def drop_pending(self) -> None:
        """Forget (and wipe) keyring keys that were never stored."""
        for _, kek in self.pending_keyring:
            wipe(kek)
        self.pending_keyring.clear()

    def wipe(self) -> None:
        """Overwrite the DEK, the KEKs held and any unsaved keyring keys."""
        wipe(self._dek)
        for kek in self._keks.values():
            wipe(kek)
        self._keks.clear()
        self._wiped = True
        self.drop_pending()


def open_keyset(
    creds: Credentials, header: Header | None = None, kdf: KdfParams = DEFAULT_KDF
) -> Keyset:
    """The one way vault gets a keyset: the vault of ``header`` unlocked with ``creds``
    (spending at most their ``kdf_budget`` on Argon2id; :class:`~vault.errors.WrongKeyError`,
    :class:`~vault.errors.KdfBudgetError`), or without ``header`` a new vault with one key slot
    per credential (Argon2id with ``kdf`` runs once for a passphrase). ``creds`` are wiped."""
    try:
        return Keyset.create(creds, kdf) if header is None else Keyset.unlock(header, creds)
    finally:
        creds.wipe()


def _service(keyring: bool | str) -> str:
    return keyring if isinstance(keyring, str) else keyring_slot.DEFAULT_SERVICE
