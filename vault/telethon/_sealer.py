"""The one place where the Telethon integration meets vault's crypto.

vault's storage-independent :class:`~vault.crypto.sealer.AuthKeySealer` seals and opens one
session's auth key (bound to the session's name); :func:`new_keyset` and :func:`unlock_keyset`
make the unlocked vault it works with, synchronously, as Telethon's sessions are. Everything
Telethon-specific (sessions, files, strings) goes through this module.
"""

from __future__ import annotations

from ..crypto import keyring_slot
from ..crypto.envelope import Envelope, Header, Purpose, parse
from ..crypto.kdf import DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..crypto.keyset import Keyset, open_keyset
from ..crypto.sealer import AuthKeySealer, is_plain_auth_key, parse_stored
from ..crypto.slots import Credentials, KeyringSlot
from ..crypto.wipe import wipe
from ..errors import CorruptedError

__all__ = [
    "AUTH_KEY_SIZE",
    "AuthKeySealer",
    "delete_keyring_entries",
    "is_plain_auth_key",
    "new_keyset",
    "parse_envelope",
    "parse_stored",
    "store_pending_keyring",
    "unlock_keyset",
]

AUTH_KEY_SIZE = Purpose.AUTH_KEY.size


def parse_envelope(stored: object) -> Envelope:
    """The structure of a stored auth-key envelope; :class:`~vault.errors.CorruptedError`."""
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise CorruptedError(f"the auth key field holds {type(stored).__name__}, not bytes")
    return parse(bytes(stored), Purpose.AUTH_KEY)


def new_keyset(
    kdf: KdfParams,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
) -> Keyset:
    """A new vault with one key slot per credential given (Argon2id runs once for a
    passphrase); a keyring slot's key is stored in the keyring now."""
    keyset = open_keyset(Credentials.from_args(passphrase, keyring, key), kdf=kdf)
    store_pending_keyring(keyset)
    return keyset


def store_pending_keyring(keyset: Keyset) -> None:
    """Store new keyring slots' keys (before the first envelope naming them is stored)."""
    while keyset.pending_keyring:
        service, kek = keyset.pending_keyring[0]
        keyring_slot.store_secret(service, keyset.vault_id, kek)
        keyset.pending_keyring.pop(0)
        wipe(kek)


def unlock_keyset(
    header: Header,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
    kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
) -> Keyset:
    """The vault of ``header``, unlocked spending at most ``kdf_budget`` on Argon2id;
    :class:`~vault.errors.WrongKeyError`, :class:`~vault.errors.KdfBudgetError`."""
    return open_keyset(Credentials.from_args(passphrase, keyring, key, kdf_budget), header)


def delete_keyring_entries(keyset: Keyset) -> None:
    """Remove the vault's secrets from the OS keyring (best effort)."""
    for slot in keyset.slots:
        if isinstance(slot, KeyringSlot):
            keyring_slot.delete_secret(slot.service, keyset.vault_id)
