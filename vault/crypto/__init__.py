"""The cryptography of session-vault: small primitives and the envelope format built on them.

``aead`` (AES-256-GCM that always takes associated data), ``kdf`` (Argon2id with capped
parameters), ``slots`` and ``keyring_slot`` (ways to unlock a vault's data key), ``envelope``
(the byte format, see ``docs/format.md``), ``keyset`` (an unlocked vault and its data-key
rotation), ``sealer`` (sealing one auth key under a keyset, no storage involved) and
``strings`` (encrypted session strings).
"""

from __future__ import annotations

from .kdf import (
    CHEAP_KDF,
    DEFAULT_KDF,
    DEFAULT_KDF_BUDGET,
    MIN_MEMORY_KIB,
    MIN_WORK,
    KdfBudget,
    KdfParams,
)
from .keyset import Keyset
from .sealer import AuthKeySealer
from .strings import decrypt_session_string, encrypt_session_string

__all__ = [
    "CHEAP_KDF",
    "DEFAULT_KDF",
    "DEFAULT_KDF_BUDGET",
    "MIN_MEMORY_KIB",
    "MIN_WORK",
    "AuthKeySealer",
    "KdfBudget",
    "KdfParams",
    "Keyset",
    "decrypt_session_string",
    "encrypt_session_string",
]
