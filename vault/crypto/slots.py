"""Key slots: the ways to unlock a vault's data key (DEK), like LUKS key slots.

Each slot wraps the same random 256-bit DEK under its own key-encryption key (KEK):

* passphrase slot: KEK = Argon2id(passphrase, salt, parameters stored in the slot);
* keyring slot: KEK = a random 256-bit key kept in the OS keyring (see :mod:`.keyring_slot`);
* raw-key slot: KEK = 32 bytes the caller supplies (from a KMS, a secret manager...).

The wrap binds the vault id, the slot kind and the slot's parameters as associated data, so a
slot cannot be moved to another vault or have its salt or costs changed unnoticed.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass, field, replace

from ..errors import (
    CorruptedError,
    KdfBudgetError,
    KeyringUnavailableError,
    UnsupportedFormatError,
    WrongKeyError,
)
from . import keyring_slot
from .aead import KEY_SIZE, OVERHEAD, Aead
from .kdf import (
    DEFAULT_KDF_BUDGET,
    SALT_SIZE,
    KdfBudget,
    KdfParams,
    Passphrase,
    check_params,
    derive_key,
    passphrase_bytes,
)
from .rng import random_bytes
from .wipe import wipe

__all__ = [
    "WRAPPED_SIZE",
    "Credentials",
    "KeyringSlot",
    "PassphraseSlot",
    "RawKeySlot",
    "Slot",
    "SlotKind",
    "new_keyring_slot",
    "new_passphrase_slot",
    "new_raw_key_slot",
    "parse_slot",
    "rewrap",
    "unlock",
    "unwrap",
]

log = logging.getLogger(__name__)

WRAPPED_SIZE = KEY_SIZE + OVERHEAD  # nonce || wrapped DEK || tag = 60 bytes
_WRAP_LABEL = b"session-vault/v1/slot\x00"
_KDF_STRUCT = struct.Struct(">III")


class SlotKind(enum.IntEnum):
    """The slot type byte of the format."""

    PASSPHRASE = 1
    KEYRING = 2
    RAW_KEY = 3


@dataclass(frozen=True)
class PassphraseSlot:
    """Argon2id salt and costs, and the wrapped DEK."""

    salt: bytes
    kdf: KdfParams
    wrapped: bytes = field(repr=False)
    kind = SlotKind.PASSPHRASE

    def params(self) -> bytes:
        kdf = self.kdf
        return self.salt + _KDF_STRUCT.pack(kdf.time_cost, kdf.memory_cost, kdf.parallelism)


@dataclass(frozen=True)
class KeyringSlot:
    """The keyring service the KEK is stored under, and the wrapped DEK."""

    service: str
    wrapped: bytes = field(repr=False)
    kind = SlotKind.KEYRING

    def params(self) -> bytes:
        encoded = self.service.encode("utf-8")
        return bytes([len(encoded)]) + encoded


@dataclass(frozen=True)
class RawKeySlot:
    """Only the wrapped DEK: the caller brings the key."""

    wrapped: bytes = field(repr=False)
    kind = SlotKind.RAW_KEY

    def params(self) -> bytes:
        return b""


Slot = PassphraseSlot | KeyringSlot | RawKeySlot


def slot_body(slot: Slot) -> bytes:
    """The slot body as stored: its parameters, then the wrapped DEK."""
    return slot.params() + slot.wrapped


def _wrap_aad(vault_id: bytes, kind: SlotKind, params: bytes) -> bytes:
    return _WRAP_LABEL + vault_id + bytes([kind]) + params


def _wrap(
    kek: bytearray | bytes, dek: bytearray, vault_id: bytes, kind: SlotKind, params: bytes
) -> bytes:
    return Aead(kek).encrypt(dek, _wrap_aad(vault_id, kind, params))


def unwrap(kek: bytearray | bytes, slot: Slot, vault_id: bytes) -> bytearray | None:
    """The DEK if ``kek`` opens ``slot``, else ``None``."""
    try:
        return bytearray(
            Aead(kek).decrypt(slot.wrapped, _wrap_aad(vault_id, slot.kind, slot.params()))
        )
    except CorruptedError:
        return None


def rewrap(slot: Slot, kek: bytearray | bytes, dek: bytearray, vault_id: bytes) -> Slot:
    """``slot`` (same kind and parameters) wrapping ``dek`` under its ``kek``, fresh nonce."""
    return replace(slot, wrapped=_wrap(kek, dek, vault_id, slot.kind, slot.params()))


def new_passphrase_slot(
    passphrase: bytearray, kdf: KdfParams, dek: bytearray, vault_id: bytes
) -> tuple[PassphraseSlot, bytearray]:
    """Run Argon2id once under a fresh salt and wrap ``dek`` with the result; returns the slot
    and its KEK (the caller keeps it to re-wrap the slot later, and wipes it)."""
    salt = random_bytes(SALT_SIZE)
    kek = derive_key(passphrase, salt, kdf)
    slot = PassphraseSlot(salt, kdf, b"")
    return PassphraseSlot(salt, kdf, _wrap(kek, dek, vault_id, slot.kind, slot.params())), kek


def new_keyring_slot(
    service: str, dek: bytearray, vault_id: bytes
) -> tuple[KeyringSlot, bytearray]:
    """A slot under a fresh random KEK; the caller stores the returned KEK in the keyring."""
    keyring_slot.check_service(service)
    kek = bytearray(random_bytes(KEY_SIZE))
    params = KeyringSlot(service, b"").params()
    return KeyringSlot(service, _wrap(kek, dek, vault_id, SlotKind.KEYRING, params)), kek


def new_raw_key_slot(key: bytes | bytearray, dek: bytearray, vault_id: bytes) -> RawKeySlot:
    """Wrap ``dek`` under a caller-supplied 32-byte key."""
    check_raw_key(key)
    return RawKeySlot(_wrap(key, dek, vault_id, SlotKind.RAW_KEY, b""))


def check_raw_key(key: object) -> None:
    """Raise :class:`TypeError`/:class:`ValueError` unless ``key`` is 32 bytes."""
    if not isinstance(key, bytes | bytearray):
        raise TypeError(f"a raw key must be bytes, got {type(key).__name__}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"a raw key must be exactly {KEY_SIZE} bytes, got {len(key)}")


def check_budget(budget: object) -> None:
    """Raise :class:`TypeError` unless ``budget`` is a :class:`~vault.crypto.KdfBudget`."""
    if not isinstance(budget, KdfBudget):
        raise TypeError(f"kdf_budget must be a vault.crypto.KdfBudget, got {type(budget).__name__}")


def parse_slot(kind: int, body: bytes) -> Slot:
    """Read one slot body; every length is checked before use."""
    if kind == SlotKind.PASSPHRASE:
        if len(body) != SALT_SIZE + _KDF_STRUCT.size + WRAPPED_SIZE:
            raise CorruptedError("a passphrase slot has the wrong length")
        kdf = check_params(*_KDF_STRUCT.unpack_from(body, SALT_SIZE))
        return PassphraseSlot(body[:SALT_SIZE], kdf, body[SALT_SIZE + _KDF_STRUCT.size :])
    if kind == SlotKind.KEYRING:
        size = body[0] if body else 0
        if size == 0 or len(body) != 1 + size + WRAPPED_SIZE:
            raise CorruptedError("a keyring slot has the wrong length")
        try:
            service = body[1 : 1 + size].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptedError("a keyring slot names its service in invalid UTF-8") from None
        return KeyringSlot(service, body[1 + size :])
    if kind == SlotKind.RAW_KEY:
        if len(body) != WRAPPED_SIZE:
            raise CorruptedError("a raw-key slot has the wrong length")
        return RawKeySlot(body)
    raise UnsupportedFormatError(
        f"the data has a key slot of type {kind}, which this version of vault does not know; "
        "upgrade session-vault"
    )


@dataclass
class Credentials:
    """What the caller brought to unlock a vault, and the KDF work it allows (``kdf_budget``).
    Wipe with :meth:`wipe` once done."""

    passphrase: bytearray | None = field(default=None, repr=False)
    keyring: bool | str = False
    raw_key: bytearray | None = field(default=None, repr=False)
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET
    #: The key-encryption key of the slot that :func:`unlock` opened, kept for the caller
    #: (a :class:`~vault.crypto.keyset.Keyset` re-wraps that slot when it rotates its DEK).
    unlocked_kek: bytearray | None = field(default=None, repr=False)

    @classmethod
    def from_args(
        cls,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | bytearray | None = None,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
    ) -> Credentials:
        """Credentials from the public arguments; a passphrase callable is called now."""
        check_budget(kdf_budget)
        if key is not None:
            check_raw_key(key)
        if keyring is not False:
            if isinstance(keyring, str):
                keyring_slot.check_service(keyring)
            elif keyring is not True:
                raise TypeError("keyring must be True, False or a service name (str)")
        return cls(
            passphrase=None if passphrase is None else passphrase_bytes(passphrase),
            keyring=keyring,
            raw_key=None if key is None else bytearray(key),
            kdf_budget=kdf_budget,
        )

    def take_kek(self) -> bytearray | None:
        """The KEK of the slot last opened with these credentials (the caller wipes it)."""
        kek, self.unlocked_kek = self.unlocked_kek, None
        return kek

    def wipe(self) -> None:
        for secret in (self.passphrase, self.raw_key, self.unlocked_kek):
            if secret is not None:
                wipe(secret)

    def describe(self) -> str:
        given = [
            name
            for name, present in (
                ("passphrase", self.passphrase is not None),
                ("OS keyring", bool(self.keyring)),
                ("raw key", self.raw_key is not None),
            )
            if present
        ]
        return " / ".join(given) or "nothing"


def unlock(vault_id: bytes, slots: tuple[Slot, ...], creds: Credentials) -> tuple[bytearray, int]:
    """Find a slot the credentials open and return ``(dek, slot index)``.

    Cheap sources are tried first (raw key, keyring), then passphrase slots, each costing one
    Argon2id run. The stored costs are not authenticated yet, so a passphrase slot is tried
    only if ``creds.kdf_budget`` still admits it; one over budget is skipped before its KDF.
    An unusable keyring is skipped if another slot opens; otherwise its
    :class:`~vault.errors.KeyringUnavailableError` is raised, or if a slot was skipped
    :class:`~vault.errors.KdfBudgetError`. Otherwise, if none opens,
    :class:`~vault.errors.WrongKeyError`, whose message says which kinds of slot exist, never
    which slot or byte failed.
    """
    keyring_error: KeyringUnavailableError | None = None
    over_budget: list[KdfParams] = []
    spent = 0
    for index in sorted(range(len(slots)), key=lambda i: _COST[slots[i].kind]):
        slot = slots[index]
        if isinstance(slot, PassphraseSlot) and creds.passphrase is not None:
            if not creds.kdf_budget.admits(slot.kdf, spent):
                over_budget.append(slot.kdf)
                continue
            spent += slot.kdf.work
        try:
            dek = _try_slot(slot, vault_id, creds)
        except KeyringUnavailableError as error:  # another slot may still open it
            keyring_error = error
            continue
        if dek is not None:
            log.debug("unlocked vault with its %s slot", slots[index].kind.name.lower())
            return dek, index
    if keyring_error is not None:
        raise keyring_error
    if over_budget:
        raise _budget_error(over_budget, creds.kdf_budget)
    kinds = sorted({slot.kind.name.lower().replace("_", "-") for slot in slots})
    raise WrongKeyError(
        f"the {creds.describe()} given does not unlock this session (it opens with: "
        f"{', '.join(kinds)}); check the passphrase or key, or use another of those"
    )


def _budget_error(skipped: list[KdfParams], budget: KdfBudget) -> KdfBudgetError:
    asked = ", ".join(f"t={p.time_cost} m={p.memory_cost} KiB" for p in skipped)
    return KdfBudgetError(
        f"{len(skipped)} passphrase slot(s) were not tried: their stored Argon2id costs "
        f"({asked}) exceed kdf_budget ({budget.describe()}), and nothing else opened the "
        "session. If you chose these costs, pass a larger kdf_budget, e.g. "
        "kdf_budget=KdfBudget.admitting(your_kdf); otherwise the stored data was forged to "
        "exhaust memory and time, and should not be trusted"
    )


_COST = {SlotKind.RAW_KEY: 0, SlotKind.KEYRING: 1, SlotKind.PASSPHRASE: 2}


def _try_slot(slot: Slot, vault_id: bytes, creds: Credentials) -> bytearray | None:
    kek: bytearray | None = None
    if isinstance(slot, RawKeySlot) and creds.raw_key is not None:
        kek = bytearray(creds.raw_key)
    elif isinstance(slot, KeyringSlot) and creds.keyring in (True, slot.service):
        kek = keyring_slot.load_secret(slot.service, vault_id)
    elif isinstance(slot, PassphraseSlot) and creds.passphrase is not None:
        kek = derive_key(creds.passphrase, slot.salt, slot.kdf)
    if kek is None:
        return None
    dek = unwrap(kek, slot, vault_id)
    if dek is None:
        wipe(kek)
    else:
        if creds.unlocked_kek is not None:
            wipe(creds.unlocked_kek)
        creds.unlocked_kek = kek
    return dek
