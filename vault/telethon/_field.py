"""The sealed auth key of an EncryptedSession, as vault's key-slot management uses it.

Telethon's sessions are synchronous; the key-slot management (:class:`vault.keyslots.KeySlots`)
is asynchronous, so this field offers both: the session calls the synchronous methods, the
slot changes await the asynchronous ones, which do the same work.
"""

from __future__ import annotations

from typing import Any

from telethon.crypto import AuthKey

from ..auth_key_field import SealedAuthKey
from ..errors import CorruptedError
from ._sealer import AuthKeySealer, store_pending_keyring
from .files import scrub

__all__ = ["SessionAuthKey", "stored_key"]


class SessionAuthKey(SealedAuthKey):
    """The ``auth_key`` of the wrapped Telethon session ``inner``: envelopes there, the
    plaintext only through :attr:`sealer`."""

    def __init__(self, inner: Any, sealer: AuthKeySealer, filename: str | None) -> None:
        super().__init__(inner, sealer)
        self.session = inner  # typed as what it is: a Telethon session, not a vault Storage
        self.filename = filename

    def store(
        self, value: bytes | None, *, sealer: AuthKeySealer | None = None, purge: bool = False
    ) -> None:
        """Seal (with ``sealer``, by default this field's) and store ``value``; with
        ``purge``, save and rebuild the file so no older envelope stays in its free pages."""
        sealer = sealer or self.sealer
        self.sealer.forget()
        if value is None:
            self.session.auth_key = None
        else:
            envelope = sealer.seal(value)
            store_pending_keyring(sealer.keyset)
            self.session.auth_key = AuthKey(envelope)
        if purge:
            self.session.save()
            if self.filename is not None:
                self.session.close()  # Telethon's SQLiteSession reconnects on its next use
                scrub(self.filename)

    async def read(self) -> bytes | None:
        stored = stored_key(self.session)
        return None if stored is None else self.sealer.open(stored)

    async def write(
        self, value: bytes | None, *, sealer: AuthKeySealer | None = None, purge: bool = False
    ) -> None:
        # On the event loop's thread, as every other use of the session: Telethon's
        # SQLiteSession must not be closed under the client's feet by another thread.
        self.store(value, sealer=sealer, purge=purge)


def stored_key(inner: Any) -> bytes | None:
    """What the wrapped session stores as its auth key (an envelope once encrypted)."""
    value = inner.auth_key
    if not value:
        return None
    if not isinstance(value, AuthKey) or not isinstance(value.key, bytes | bytearray):
        raise CorruptedError(
            f"the {type(inner).__name__} holds an auth key of type {type(value).__name__}, "
            "not a telethon.crypto.AuthKey of bytes"
        )
    return bytes(value.key)
