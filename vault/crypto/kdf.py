"""Argon2id key derivation for passphrase slots, with parameters checked against caps first.

A slot's parameters are read from the envelope before anything is authenticated, so an attacker
controls them: :func:`check_params` refuses values above the caps before any memory is spent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

from ..errors import CorruptedError

__all__ = [
    "CHEAP_KDF",
    "DEFAULT_KDF",
    "MAX_MEMORY_KIB",
    "MAX_PARALLELISM",
    "MAX_TIME_COST",
    "SALT_SIZE",
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

#: A passphrase as callers may give it: text, bytes, or a zero-argument callable read at open.
Passphrase = str | bytes | Callable[[], "str | bytes"]


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters: passes, memory in KiB, lanes. Stored in each passphrase slot."""

    time_cost: int
    memory_cost: int
    parallelism: int

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"invalid Argon2id parameters: {problem}")


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
#: Only for tests: protects nothing against a guessing attacker.
CHEAP_KDF = KdfParams(time_cost=1, memory_cost=8, parallelism=1)


def check_params(time_cost: int, memory_cost: int, parallelism: int) -> KdfParams:
    """Parameters read from an envelope, or :class:`~vault.errors.CorruptedError` if they
    exceed the caps (checked before any work is done)."""
    try:
        return KdfParams(time_cost, memory_cost, parallelism)
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
