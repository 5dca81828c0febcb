"""AES-256-GCM as an AEAD that always takes associated data and draws its own nonces."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import CorruptedError
from .rng import random_bytes

__all__ = ["KEY_SIZE", "NONCE_SIZE", "OVERHEAD", "TAG_SIZE", "Aead"]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
#: Bytes a sealed message has on top of its plaintext: nonce and tag.
OVERHEAD = NONCE_SIZE + TAG_SIZE


class Aead:
    """AES-256-GCM with a 256-bit key. Sealed output is ``nonce (12) || ciphertext || tag (16)``.

    The key is borrowed, not copied: the caller owns (and wipes) the ``bytearray``. Every call
    takes associated data, so a message sealed for one purpose cannot be opened for another.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes | bytearray) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"an AES-256-GCM key is {KEY_SIZE} bytes, got {len(key)}")
        self._key = key

    def __repr__(self) -> str:
        return "Aead(AES-256-GCM)"

    def encrypt(self, plaintext: bytes | bytearray, associated_data: bytes) -> bytes:
        """Seal ``plaintext`` under a fresh random 96-bit nonce."""
        return self._encrypt_with_nonce(random_bytes(NONCE_SIZE), plaintext, associated_data)

    def _encrypt_with_nonce(
        self, nonce: bytes, plaintext: bytes | bytearray, associated_data: bytes
    ) -> bytes:
        """Test hook for known-answer tests: seal under a given nonce. Never reuse a nonce."""
        return nonce + AESGCM(self._key).encrypt(nonce, bytes(plaintext), associated_data)

    def decrypt(self, sealed: bytes, associated_data: bytes) -> bytes:
        """Open ``sealed``; :class:`~vault.errors.CorruptedError` if it fails authentication.

        The error never says why: a wrong key, a changed byte and wrong associated data look
        the same, as they must.
        """
        if len(sealed) < OVERHEAD:
            raise CorruptedError("sealed data is shorter than a nonce and a tag")
        try:
            return AESGCM(self._key).decrypt(
                sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], associated_data
            )
        except InvalidTag:
            raise CorruptedError("sealed data failed authentication") from None
