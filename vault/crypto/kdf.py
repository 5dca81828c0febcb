"""Argon2id key derivation for passphrase slots, with parameters checked against caps first.

A slot's parameters are read from the envelope before anything is authenticated, so an attacker
controls them: :func:`check_params` refuses values above the caps before any memory is spent,
and a :class:`KdfBudget` bounds the total work one unlock may spend on the slots it tries.
New slots must be at least as strong as the floor (:data:`MIN_MEMORY_KIB`, :data:`MIN_WORK`)
unless the parameters say they are for tests (``allow_weak=True``, as :data:`CHEAP_KDF`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from argon2.low_level import Type, hash_secret_raw

from ..errors import CorruptedError

__all__ = [
    "CHEAP_KDF",
    "DEFAULT_KDF",
    "DEFAULT_KDF_BUDGET",
    "MAX_MEMORY_KIB",
    "MAX_PARALLELISM",
    "MAX_TIME_COST",
    "MIN_MEMORY_KIB",
    "MIN_WORK",
    "SALT_SIZE",
    "KdfBudget",
    "KdfParams",
    "Passphrase",
    "check_params",
    "derive_key",
    "passphrase_bytes",
]

SALT_SIZE = 16
KEY_SIZE = 32

#: Caps on what an envelope may ask for. They admit RFC 9106's first recommended profile
#: (t=1, m=2 GiB, p=4); anything above is refused as tampered without running Argon2.
MAX_TIME_COST = 16
MAX_MEMORY_KIB = 2 * 1024 * 1024
MAX_PARALLELISM = 16

#: The floor for new passphrase slots (OWASP's minimum Argon2id profile, m=19 MiB, t=2): at
#: least this much memory, and at least this many KiB-passes (time_cost x memory_cost).
MIN_MEMORY_KIB = 19 * 1024
MIN_WORK = 2 * MIN_MEMORY_KIB

#: A passphrase as callers may give it: text, bytes, or a zero-argument callable read at open.
Passphrase = str | bytes | Callable[[], "str | bytes"]


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters: passes, memory in KiB, lanes. Stored in each passphrase slot.

    Raises :class:`ValueError` outside the caps, and below the floor (``memory_cost`` under
    :data:`MIN_MEMORY_KIB`, or ``time_cost * memory_cost`` under :data:`MIN_WORK`) unless
    ``allow_weak=True``, which is for tests only: such a slot protects a passphrase from almost
    no guessing. ``allow_weak`` is not part of equality.
    """

    time_cost: int
    memory_cost: int
    parallelism: int
    allow_weak: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"invalid Argon2id parameters: {problem}")
        if not self.allow_weak and _below_floor(self):
            raise ValueError(
                f"Argon2id parameters t={self.time_cost}, m={self.memory_cost} KiB are below "
                f"the floor (memory_cost >= {MIN_MEMORY_KIB} KiB and time_cost x memory_cost "
                f">= {MIN_WORK}) and would make a passphrase easy to guess; use DEFAULT_KDF, or "
                "pass allow_weak=True in tests only"
            )

    @property
    def work(self) -> int:
        """The cost of one run in KiB-passes (``time_cost * memory_cost``)."""
        return self.time_cost * self.memory_cost


def _below_floor(params: KdfParams) -> bool:
    return params.memory_cost < MIN_MEMORY_KIB or params.work < MIN_WORK


def _problem(params: KdfParams) -> str | None:
    if not 1 <= params.time_cost <= MAX_TIME_COST:
        return f"time_cost must be 1..{MAX_TIME_COST}, got {params.time_cost}"
    if not 1 <= params.parallelism <= MAX_PARALLELISM:
        return f"parallelism must be 1..{MAX_PARALLELISM}, got {params.parallelism}"
    if not 8 * params.parallelism <= params.memory_cost <= MAX_MEMORY_KIB:
        return (
            f"memory_cost must be {8 * params.parallelism}..{MAX_MEMORY_KIB} KiB, "
            f"got {params.memory_cost}"
        )
    return None


#: RFC 9106's second recommended option (for memory-constrained machines): t=3, 64 MiB, p=4.
DEFAULT_KDF = KdfParams(time_cost=3, memory_cost=64 * 1024, parallelism=4)
#: Only for tests (below the floor, so marked ``allow_weak``): protects nothing against a
#: guessing attacker.
CHEAP_KDF = KdfParams(time_cost=1, memory_cost=8, parallelism=1, allow_weak=True)


@dataclass(frozen=True, slots=True)
class KdfBudget:
    """The most Argon2id work one unlock may spend before anything is authenticated.

    A slot's costs come from the stored data, so whoever can write it chooses them. Passphrase
    slots are tried only while both limits hold; a slot over them is skipped without running
    the KDF, and if no slot opens, :class:`~vault.errors.KdfBudgetError` says so.

    ``memory_cost``: the most memory (KiB) one slot may ask for (the RAM one run takes).
    ``work``: the total over all passphrase slots tried, in KiB-passes: a slot costs
    ``time_cost * memory_cost`` (:data:`DEFAULT_KDF` costs 196608).

    :meth:`admitting` builds the budget that exactly admits trying given slots.
    """

    memory_cost: int
    work: int

    def __post_init__(self) -> None:
        for name in ("memory_cost", "work"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"KdfBudget.{name} must be a positive int, got {value!r}")

    @classmethod
    def admitting(cls, *slots: KdfParams) -> KdfBudget:
        """The smallest budget that admits trying one passphrase slot of each ``slots``:
        ``KdfBudget.admitting(my_kdf, my_kdf)`` for two slots of ``my_kdf``."""
        if not slots:
            raise ValueError("KdfBudget.admitting needs at least one KdfParams")
        return cls(max(s.memory_cost for s in slots), sum(s.work for s in slots))

    def admits(self, params: KdfParams, spent: int = 0) -> bool:
        """Whether a slot of ``params`` may run after ``spent`` KiB-passes already spent."""
        return params.memory_cost <= self.memory_cost and spent + params.work <= self.work

    def describe(self) -> str:
        """The limits in words, for error messages."""
        return f"memory_cost <= {self.memory_cost} KiB, work <= {self.work} KiB-passes in total"


#: Four times RFC 9106's second recommendation: one slot of up to 256 MiB and 3 passes, or
#: four slots of :data:`DEFAULT_KDF` (which a wrong passphrase tries in turn).
DEFAULT_KDF_BUDGET = KdfBudget(memory_cost=4 * DEFAULT_KDF.memory_cost, work=4 * DEFAULT_KDF.work)


def check_params(time_cost: int, memory_cost: int, parallelism: int) -> KdfParams:
    """Parameters read from an envelope, or :class:`~vault.errors.CorruptedError` if they
    exceed the caps (checked before any work is done)."""
    try:
        # Weak costs are the writer's choice and still open; only the caps are checked here.
        return KdfParams(time_cost, memory_cost, parallelism, allow_weak=True)
    except ValueError as error:
        raise CorruptedError(
            f"a passphrase slot asks for {error}; the data was modified or written by a "
            "tool that vault does not trust with these costs"
        ) from None


def passphrase_bytes(passphrase: Passphrase) -> bytearray:
    """The bytes Argon2id gets: text is NFC-normalised and UTF-8 encoded, bytes used as given;
    a callable is called once. Returned as a ``bytearray`` so the caller can wipe it."""
    value = passphrase() if callable(passphrase) else passphrase
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value).encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        raise TypeError(
            f"a passphrase must be str or bytes (or a callable returning one), "
            f"got {type(value).__name__}"
        )
    if not value:
        raise ValueError("the passphrase is empty; choose a non-empty passphrase")
    return bytearray(value)


def derive_key(secret: bytes | bytearray, salt: bytes, params: KdfParams) -> bytearray:
    """Argon2id(secret, salt) -> 32-byte key; wipe the result when done."""
    return bytearray(
        hash_secret_raw(
            secret=bytes(secret),
            salt=salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_cost,
            parallelism=params.parallelism,
            hash_len=KEY_SIZE,
            type=Type.ID,
        )
    )
