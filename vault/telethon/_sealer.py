"""The one place where the Telethon integration meets vault's crypto: seal and open auth keys.

Everything Telethon-specific (sessions, files, strings) goes through :class:`AuthKeySealer`,
so a change in how vault seals an auth key is a change here only.
"""

from __future__ import annotations

from ..crypto import keyring_slot
from ..crypto.envelope import Envelope, Purpose, is_envelope, parse
from ..crypto.kdf import KdfParams, Passphrase
from ..crypto.keyset import Keyset
from ..crypto.slots import Credentials, KeyringSlot, Slot
from ..crypto.wipe import wipe
from ..errors import CorruptedError

__all__ = ["AUTH_KEY_SIZE", "AuthKeySealer", "is_plain_auth_key"]

AUTH_KEY_SIZE = Purpose.AUTH_KEY.size


def is_plain_auth_key(stored: object) -> bool:
    """Whether ``stored`` is an auth key in the clear (256 bytes that are not an envelope;
    one cut to 256 bytes still starts with the magic and is refused as damaged instead)."""
    return (
        isinstance(stored, bytes | bytearray | memoryview)
        and len(stored) == AUTH_KEY_SIZE
        and not is_envelope(stored)
    )


class AuthKeySealer:
    """One unlocked vault: seals 256-byte auth keys into envelopes bound to ``binding`` and
    opens them again, keeping the last plaintext so a repeated read decrypts nothing."""

    def __init__(self, keyset: Keyset) -> None:
        self._keyset = keyset
        self._sealed: bytes | None = None
        self._plain = bytearray()

    @classmethod
    def create(
        cls,
        kdf: KdfParams,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
    ) -> AuthKeySealer:
        """A new vault with one key slot per credential given (runs Argon2id once for a
        passphrase)."""
        creds = Credentials.from_args(passphrase, keyring, key)
        try:
            keyset = Keyset.create(creds, kdf)
        finally:
            creds.wipe()
        sealer = cls(keyset)
        sealer._store_pending_keyring()
        return sealer

    @classmethod
    def unlock(
        cls,
        envelope: bytes,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
    ) -> AuthKeySealer:
        """Unlock the vault that sealed ``envelope`` (parsed first: a damaged or forged one
        fails before any KDF runs); :class:`~vault.errors.WrongKeyError` if nothing given
        opens it."""
        header = parse_envelope(envelope).header
        creds = Credentials.from_args(passphrase, keyring, key)
        try:
            return cls(Keyset.unlock(header, creds))
        finally:
            creds.wipe()

    @property
    def slots(self) -> tuple[Slot, ...]:
        return self._keyset.slots

    def seal(self, plain: bytes, binding: bytes) -> bytes:
        """The envelope of the auth key ``plain``, bound to ``binding``."""
        if len(plain) != AUTH_KEY_SIZE:
            raise ValueError(f"an auth key is {AUTH_KEY_SIZE} bytes, got {len(plain)}")
        envelope = self._keyset.seal(Purpose.AUTH_KEY, binding, bytes(plain))
        self._remember(envelope, plain)
        return envelope

    def open(self, envelope: bytes, binding: bytes | None) -> bytes:
        """The auth key inside ``envelope``, checking it was sealed for ``binding`` (``None``:
        any); :class:`~vault.errors.CorruptedError` if it was altered or swapped in."""
        if envelope == self._sealed:
            return bytes(self._plain)
        parsed = parse_envelope(envelope)
        if binding is not None and parsed.header.binding != binding:
            raise CorruptedError(
                "the encrypted auth key was sealed for another session: it was swapped or "
                "copied in. If you renamed this session on purpose, open it once with "
                "rebind=True"
            )
        plain = self._keyset.open(parsed, Purpose.AUTH_KEY)
        self._remember(envelope, plain)
        return plain

    def delete_keyring_entries(self) -> None:
        """Remove this vault's secrets from the OS keyring (best effort)."""
        for slot in self._keyset.slots:
            if isinstance(slot, KeyringSlot):
                keyring_slot.delete_secret(slot.service, self._keyset.vault_id)

    def wipe(self) -> None:
        """Overwrite the data key and the cached plaintext; the sealer is unusable after."""
        self._remember(None, b"")
        self._keyset.wipe()

    def _remember(self, sealed: bytes | None, plain: bytes) -> None:
        wipe(self._plain)
        self._sealed, self._plain = sealed, bytearray(plain)

    def _store_pending_keyring(self) -> None:
        keyset = self._keyset
        while keyset.pending_keyring:
            service, kek = keyset.pending_keyring[0]
            keyring_slot.store_secret(service, keyset.vault_id, kek)
            keyset.pending_keyring.pop(0)
            wipe(kek)


def parse_envelope(stored: object) -> Envelope:
    """The structure of a stored auth-key envelope; :class:`~vault.errors.CorruptedError`."""
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise CorruptedError(f"the auth key field holds {type(stored).__name__}, not bytes")
    return parse(bytes(stored), Purpose.AUTH_KEY)
