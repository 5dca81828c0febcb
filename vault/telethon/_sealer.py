"""The one place where the Telethon integration meets vault's crypto.

:class:`AuthKeySealer` seals and opens one session's auth key (bound to the session's name);
:func:`new_keyset` and :func:`unlock_keyset` make the unlocked vault it works with. Everything
Telethon-specific (sessions, files, strings) goes through these, so a change in how vault
seals an auth key is a change here only.
"""

from __future__ import annotations

import hashlib

from ..crypto import keyring_slot
from ..crypto.envelope import Envelope, Header, Purpose, is_envelope, parse
from ..crypto.kdf import DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..crypto.keyset import Keyset
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


def is_plain_auth_key(stored: object) -> bool:
    """Whether ``stored`` is an auth key in the clear (256 bytes that are not an envelope;
    one cut to 256 bytes still starts with the magic and is refused as damaged instead)."""
    return (
        isinstance(stored, bytes | bytearray | memoryview)
        and len(stored) == AUTH_KEY_SIZE
        and not is_envelope(stored)
    )


def parse_envelope(stored: object) -> Envelope:
    """The structure of a stored auth-key envelope; :class:`~vault.errors.CorruptedError`."""
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise CorruptedError(f"the auth key field holds {type(stored).__name__}, not bytes")
    return parse(bytes(stored), Purpose.AUTH_KEY)


def parse_stored(stored: object, name: str, *, rebind: bool = False) -> Envelope:
    """The envelope stored as session ``name``'s auth key, checked for shape and (unless
    ``rebind``) binding, with no key: :class:`~vault.errors.CorruptedError`."""
    envelope = parse_envelope(stored)
    if not rebind and envelope.header.binding != binding_for(name):
        raise CorruptedError(
            f"the encrypted auth key stored in {name!r} was sealed for another session: it "
            "was swapped or copied in. If you renamed this session on purpose, open it once "
            "with rebind=True"
        )
    return envelope


def binding_for(name: str) -> bytes:
    """The session name as bound into an envelope (hashed if longer than a binding may be)."""
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) <= 255:
        return encoded
    return b"sha256:" + hashlib.sha256(encoded).hexdigest().encode("ascii")


class AuthKeySealer:
    """Seals 256-byte auth keys under ``keyset`` into envelopes bound to the session called
    ``name``, and opens them; the last envelope and its plaintext are cached, so opening it
    again decrypts nothing."""

    def __init__(self, keyset: Keyset, name: str) -> None:
        self.keyset = keyset
        self.name = name
        self.binding = binding_for(name)
        self._sealed: bytes | None = None
        self._plain = bytearray()

    def seal(self, auth_key: bytes | bytearray) -> bytes:
        """The envelope of ``auth_key``, bound to this session."""
        if len(auth_key) != AUTH_KEY_SIZE:
            raise ValueError(f"an auth key is {AUTH_KEY_SIZE} bytes, got {len(auth_key)}")
        envelope = self.keyset.seal(Purpose.AUTH_KEY, self.binding, bytes(auth_key))
        self._remember(envelope, auth_key)
        return envelope

    def open(self, stored: bytes, *, rebind: bool = False) -> bytes:
        """The auth key inside ``stored``; :class:`~vault.errors.CorruptedError` if it was
        modified or (unless ``rebind``) sealed for another session. Callers refuse a
        plaintext key before, in their own words."""
        if stored == self._sealed:
            return bytes(self._plain)
        plain = self.keyset.open(self.parse(stored, rebind=rebind), Purpose.AUTH_KEY)
        self._remember(stored, plain)
        return plain

    def parse(self, stored: object, *, rebind: bool = False) -> Envelope:
        """Check the stored envelope's shape and binding without any key."""
        return parse_stored(stored, self.name, rebind=rebind)

    def needs_rebind(self, stored: object) -> bool:
        """Whether ``stored`` is bound to another name than this session's."""
        return self.parse(stored, rebind=True).header.binding != self.binding

    def forget(self) -> None:
        """Drop (and wipe) the cached plaintext."""
        self._remember(None, b"")

    def close(self) -> None:
        """Wipe the cached plaintext and the keyset; the sealer cannot be used afterwards."""
        self.forget()
        self.keyset.wipe()

    def _remember(self, sealed: bytes | None, plain: bytes | bytearray) -> None:
        wipe(self._plain)
        self._sealed, self._plain = sealed, bytearray(plain)


def new_keyset(
    kdf: KdfParams,
    passphrase: Passphrase | None = None,
    keyring: bool | str = False,
    key: bytes | None = None,
) -> Keyset:
    """A new vault with one key slot per credential given (Argon2id runs once for a
    passphrase); a keyring slot's key is stored in the keyring now."""
    creds = Credentials.from_args(passphrase, keyring, key)
    try:
        keyset = Keyset.create(creds, kdf)
    finally:
        creds.wipe()
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
    creds = Credentials.from_args(passphrase, keyring, key, kdf_budget)
    try:
        return Keyset.unlock(header, creds)
    finally:
        creds.wipe()


def delete_keyring_entries(keyset: Keyset) -> None:
    """Remove the vault's secrets from the OS keyring (best effort)."""
    for slot in keyset.slots:
        if isinstance(slot, KeyringSlot):
            keyring_slot.delete_secret(slot.service, keyset.vault_id)
