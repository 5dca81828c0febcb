"""EncryptedStorage: wraps any Storage so the auth key never reaches it in the clear."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .crypto import keyring_slot
from .crypto.envelope import Envelope, Purpose, classify_auth_key, parse
from .crypto.kdf import (
    DEFAULT_KDF,
    DEFAULT_KDF_BUDGET,
    KdfBudget,
    KdfParams,
    Passphrase,
    passphrase_bytes,
)
from .crypto.keyset import Keyset
from .crypto.slots import (
    Credentials,
    KeyringSlot,
    PassphraseSlot,
    Slot,
    check_budget,
    check_raw_key,
)
from .crypto.strings import is_encrypted_string, open_session, parse_encrypted_string, seal_session
from .crypto.wipe import wipe
from .errors import (
    CorruptedError,
    KeySlotError,
    PlaintextSessionError,
    StorageClosedError,
    StorageNotOpenError,
    StorageStateError,
)
from .peers import AnyPeerRow, UsernameRow
from .session_string import (
    AUTH_KEY_SIZE,
    SessionData,
    decode_session_string,
    encode_session_string,
)
from .storage.base import UNSET, StateRow, Storage, Unset
from .storage.fields import FieldStorage
from .storage.update_states import UpdateStateLike

__all__ = ["EncryptedStorage"]

log = logging.getLogger(__name__)

_MIGRATE_HINT = "run `session-vault encrypt` on it first, or pass migrate=True to encrypt it now"
#: Methods that only pass through, bound straight to the inner storage's at open().
_PASS_THROUGH = (
    "update_peers",
    "update_usernames",
    "get_peer_by_id",
    "get_peer_by_username",
    "get_peer_by_phone_number",
    "update_state",
)


class EncryptedStorage(FieldStorage):
    """A :class:`~vault.storage.Storage` that seals the auth key before the inner storage
    sees it; everything else (peers, update state, dc id, user id...) passes straight through.

    It wraps any storage, including your own subclass, and clients use it like the storage it
    wraps::

        storage = EncryptedStorage(FileStorage("my_account"), passphrase=os.environ["PW"])
        storage = EncryptedStorage(FileStorage("my_account"), keyring=True)
        storage = EncryptedStorage(MemoryStorage(), passphrase=pw, session_string=ENCRYPTED)

    Unlock with any of ``passphrase`` (str, bytes, or a zero-argument callable read at
    ``open()``), ``keyring`` (``True`` or a keyring service name: a random key kept in the OS
    keyring) and ``key`` (32 bytes, e.g. from a KMS). A new session gets one key slot for each
    one given; an existing one opens with any slot it has. ``open()`` runs the passphrase KDF
    (Argon2id with ``kdf`` parameters) once; later calls reuse the unlocked data key.

    The costs stored in a passphrase slot are read before anything is authenticated, so
    ``open()`` spends at most ``kdf_budget`` (a :class:`~vault.crypto.KdfBudget`; the default
    admits one slot of up to 256 MiB and 3 passes, or four slots of the default ``kdf``) and
    skips slots over it. If you raise ``kdf`` beyond that, raise ``kdf_budget`` too, e.g.
    ``kdf_budget=KdfBudget.admitting(kdf)``; a ``kdf`` the budget does not admit is refused here.

    ``open()`` raises :class:`~vault.errors.WrongKeyError` if nothing given unlocks the
    session, :class:`~vault.errors.KdfBudgetError` if passphrase slots were skipped as over
    ``kdf_budget`` and nothing else opened it, :class:`~vault.errors.CorruptedError` if the
    stored data was modified or swapped with another session's, and
    :class:`~vault.errors.PlaintextSessionError` if the session is not encrypted yet (unless
    ``migrate=True``, which encrypts it). None of these changes the stored data.

    The envelope is bound to the session name; after renaming a session on purpose, open it
    once with ``rebind=True``. A ``session_string`` (encrypted, or plain with ``migrate=True``)
    is loaded into the inner storage at ``open()``; a malformed one raises here already.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
        session_string: str | None = None,
        migrate: bool = False,
        kdf: KdfParams = DEFAULT_KDF,
        rebind: bool = False,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
    ) -> None:
        if passphrase is None and keyring is False and key is None:
            raise ValueError("EncryptedStorage needs a passphrase, keyring=True or a key")
        if passphrase is not None and not (
            callable(passphrase) or isinstance(passphrase, str | bytes)
        ):
            raise TypeError("passphrase must be str, bytes or a zero-argument callable")
        if key is not None:
            check_raw_key(key)
        if not isinstance(kdf, KdfParams):
            raise TypeError("kdf must be a vault.crypto.KdfParams")
        check_budget(kdf_budget)
        if not kdf_budget.admits(kdf):
            raise ValueError(
                f"kdf (t={kdf.time_cost}, m={kdf.memory_cost} KiB) costs more than kdf_budget "
                f"admits ({kdf_budget.describe()}), so its slots could not be opened again; "
                "pass kdf_budget=KdfBudget.admitting(kdf) or larger"
            )
        super().__init__(str(getattr(inner, "name", "")))
        self.inner = inner
        self._passphrase = passphrase
        self._keyring = keyring
        self._key = None if key is None else bytearray(key)
        self._kdf = kdf
        self._kdf_budget = kdf_budget
        self._migrate = migrate
        self._rebind = rebind
        self._binding = _binding(self.name)
        self._initial: Envelope | SessionData | None = None
        if session_string is not None:
            self._initial = (
                parse_encrypted_string(session_string)
                if is_encrypted_string(session_string)
                else decode_session_string(session_string)
            )
        self._keyset: Keyset | None = None
        # The envelope last read or written and its plaintext: a read that finds the same
        # envelope skips parsing and decrypting it again.
        self._sealed: bytes | None = None
        self._plain = bytearray()
        self._state = "new"
        self._write_lock = asyncio.Lock()
        # Non-secret facts kept after close(), so delete() can remove keyring entries.
        self._vault_id = b""
        self._slots: tuple[Slot, ...] = ()

    def __repr__(self) -> str:
        kinds = ", ".join(slot.kind.name.lower() for slot in self._slots)
        return f"{type(self).__name__}({self.inner!r}, slots=[{kinds}])"

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the inner storage and unlock (or create) the vault; see the class docstring."""
        if self._state == "closed":
            raise StorageClosedError(f"{self!r} was closed; create a new object to open it again")
        if self._state == "open":
            raise StorageStateError(f"{self!r} is already open; open() it only once")
        self._state = "open"
        await self.inner.open()
        self._bind_pass_through()
        try:
            creds = Credentials.from_args(
                self._passphrase, self._keyring, self._key, self._kdf_budget
            )
            self._passphrase = None
            try:
                await self._unlock(creds)
            finally:
                creds.wipe()
        except BaseException:
            await self.close()
            raise

    def _bind_pass_through(self) -> None:
        """Make the peer and update-state methods the inner storage's own bound methods, so
        a call costs what the inner one does: a lookup is a few microseconds, and a second
        coroutine around it added 3-6%. A subclass's override of one of them is kept."""
        for name in _PASS_THROUGH:
            if getattr(type(self), name) is getattr(EncryptedStorage, name):
                setattr(self, name, getattr(self.inner, name))

    async def _unlock(self, creds: Credentials) -> None:
        initial, self._initial = self._initial, None
        stored = await self.inner.auth_key()
        if isinstance(initial, Envelope):
            keyset = await self._run(Keyset.unlock, initial.header, creds)
            self._use(keyset)
            await self._load_over(stored, open_session(keyset, initial))
            return
        if isinstance(initial, SessionData):
            self._refuse_plaintext("the session string given is not encrypted")
            self._use(await self._run(Keyset.create, creds, self._kdf))
            await self._load_over(stored, initial)
            log.info("encrypted a plaintext session string into %r", self)
            return
        if stored is None:
            self._use(await self._run(Keyset.create, creds, self._kdf))
        elif _is_plain_auth_key(stored):
            self._refuse_plaintext(f"the session {self.name!r} is stored unencrypted")
            self._use(await self._run(Keyset.create, creds, self._kdf))
            async with self._write_lock:
                await self._write_auth_key(self._open_keyset(), bytes(stored), purge=True)
            log.info("encrypted the plaintext auth key of %r", self)
        else:
            envelope = self._parse_stored(stored, check_binding=not self._rebind)
            keyset = await self._run(Keyset.unlock, envelope.header, creds)
            self._use(keyset)
            plain = keyset.open(envelope, Purpose.AUTH_KEY)
            if envelope.header.binding != self._binding:
                await self.auth_key(plain)
                log.info("re-bound the encrypted auth key to session %r", self.name)

    async def _load_over(self, stored: object, data: SessionData) -> None:
        """Load a session string's data over what the inner storage held (``stored``: its auth
        key field); a plaintext key there must not stay recoverable from journals or the WAL."""
        await self.load_session_data(data)
        if _is_plain_auth_key(stored):
            await _purge(self.inner)

    def _refuse_plaintext(self, what: str) -> None:
        if not self._migrate:
            raise PlaintextSessionError(f"{what}; {_MIGRATE_HINT}")

    def _use(self, keyset: Keyset) -> None:
        self._keyset = keyset
        self._vault_id, self._slots = keyset.vault_id, keyset.slots

    @staticmethod
    async def _run(func: Callable[..., Any], *args: Any) -> Any:
        """Run KDF and keyring work off the event loop."""
        return await asyncio.to_thread(func, *args)

    async def save(self) -> None:
        await self.inner.save()

    async def close(self) -> None:
        """Wipe the data key and close the inner storage. Closing twice, or before
        ``open()``, does nothing."""
        if self._state != "open":
            await self.inner.close()
            return
        self._state = "closed"
        if self._keyset is not None:
            self._keyset.wipe()
            self._keyset = None
        self._remember(None, b"")
        if self._key is not None:
            wipe(self._key)
            self._key = None
        self._passphrase = None
        await self.inner.close()

    async def delete(self) -> None:
        """Delete the inner session and the vault's keyring entries (best effort)."""
        await self.inner.delete()
        for slot in self._slots:
            if isinstance(slot, KeyringSlot):
                await self._run(keyring_slot.delete_secret, slot.service, self._vault_id)

    # --- the sealed field --------------------------------------------------------------------

    async def auth_key(self, value: bytes | Unset | None = UNSET) -> bytes | None:
        """The auth key, decrypted on read and sealed before it reaches the inner storage."""
        keyset = self._open_keyset()
        if value is UNSET:
            return await self._read_auth_key(keyset)
        if value is not None and len(value) != AUTH_KEY_SIZE:
            raise ValueError(f"an auth key is {AUTH_KEY_SIZE} bytes, got {len(value)}")
        async with self._write_lock:
            await self._write_auth_key(keyset, value)
        return None

    async def _read_auth_key(self, keyset: Keyset) -> bytes | None:
        stored = await self.inner.auth_key()
        if stored is None:
            return None
        if stored == self._sealed:
            return bytes(self._plain)
        if _is_plain_auth_key(stored):
            raise PlaintextSessionError(
                f"an unencrypted auth key was written into {self.name!r} behind "
                f"EncryptedStorage's back; {_MIGRATE_HINT}"
            )
        plain = keyset.open(self._parse_stored(stored), Purpose.AUTH_KEY)
        self._remember(bytes(stored), plain)
        return plain

    def _remember(self, sealed: bytes | None, plain: bytes) -> None:
        wipe(self._plain)
        self._sealed, self._plain = sealed, bytearray(plain)

    async def _write_auth_key(
        self, keyset: Keyset, value: bytes | None, *, purge: bool = False
    ) -> None:
        """Seal and store (callers hold the write lock). With ``purge``, ask the inner storage
        to drop stale copies of what was there: needed when that was a plaintext key, or an
        envelope with slots just removed; an older envelope of the same slots reveals nothing,
        so ordinary writes skip the cost."""
        self._remember(None, b"")
        if value is None:
            await self.inner.auth_key(None)
        else:
            envelope = keyset.seal(Purpose.AUTH_KEY, self._binding, bytes(value))
            await self._store_pending_keyring(keyset)
            await self.inner.auth_key(envelope)
            self._remember(envelope, value)
        if purge:
            await _purge(self.inner)

    def _parse_stored(self, stored: object, *, check_binding: bool = True) -> Envelope:
        if not isinstance(stored, bytes | bytearray | memoryview):
            raise CorruptedError(
                f"the auth key field of {self.name!r} holds {type(stored).__name__}, not bytes"
            )
        envelope = parse(bytes(stored), Purpose.AUTH_KEY)
        if check_binding and envelope.header.binding != self._binding:
            raise CorruptedError(
                f"the encrypted auth key stored in {self.name!r} was sealed for another "
                "session: it was swapped or copied in. If you renamed this session on "
                "purpose, open it once with rebind=True"
            )
        return envelope

    async def _store_pending_keyring(self, keyset: Keyset) -> None:
        while keyset.pending_keyring:
            service, kek = keyset.pending_keyring[0]
            await self._run(keyring_slot.store_secret, service, keyset.vault_id, kek)
            keyset.pending_keyring.pop(0)
            wipe(kek)

    def _open_keyset(self) -> Keyset:
        if self._keyset is None:
            if self._state == "closed":
                raise StorageClosedError(f"{self!r} is closed; create a new storage object")
            raise StorageNotOpenError(f"{self!r} is not open; await open() first")
        return self._keyset

    # --- session strings ---------------------------------------------------------------------

    async def export_session_string(self) -> str:
        """The session as an encrypted string (``vault1:...``), which opens with the same slots
        as this session. Safe to keep in a CI secret or an environment variable."""
        return seal_session(self._open_keyset(), await self.session_data())

    async def export_plain_session_string(self) -> str:
        """DANGEROUS: the session as a plain Pyrogram string. Anyone who sees it (a log, shell
        history, a CI output) has the account. Prefer :meth:`export_session_string`."""
        return encode_session_string(await self.session_data())

    async def import_session_string(self, session_string: str) -> None:
        """Load a plain session string, or an encrypted one exported from this same vault
        (to load one from another vault, pass it as ``session_string=`` with its key)."""
        keyset = self._open_keyset()
        if is_encrypted_string(session_string):
            data = open_session(keyset, parse_encrypted_string(session_string))
        else:
            data = decode_session_string(session_string)
        await self.load_session_data(data)

    # --- key slots ---------------------------------------------------------------------------

    @property
    def key_slots(self) -> tuple[Slot, ...]:
        """The vault's key slots (kinds, KDF parameters, keyring services; no secrets)."""
        return self._slots

    def needs_rekey(self) -> bool:
        """Whether a passphrase slot uses other KDF parameters than this storage's ``kdf``;
        if so, :meth:`change_passphrase` (with the same passphrase) upgrades it."""
        return any(isinstance(s, PassphraseSlot) and s.kdf != self._kdf for s in self._slots)

    async def add_passphrase(self, passphrase: Passphrase, *, kdf: KdfParams | None = None) -> None:
        """Add a passphrase slot (runs Argon2id once)."""
        params = kdf or self._kdf
        await self._with_passphrase(passphrase, lambda ks, pw: ks.add_passphrase(pw, params))

    async def change_passphrase(
        self, new_passphrase: Passphrase, *, kdf: KdfParams | None = None
    ) -> None:
        """Replace the passphrase slot that unlocked the session (or its only passphrase
        slot) by one for ``new_passphrase``. The data key and the data stay the same."""
        keyset = self._open_keyset()
        indexes = [i for i, s in enumerate(keyset.slots) if isinstance(s, PassphraseSlot)]
        index = keyset.unlocked_by if keyset.unlocked_by in indexes else None
        if index is None and len(indexes) == 1:
            index = indexes[0]
        if index is None:
            raise KeySlotError(
                "cannot tell which passphrase slot to change (there are "
                f"{len(indexes)}); open the session with the passphrase to change, or use "
                "add_passphrase()/remove_slot()"
            )
        target, params = index, kdf or self._kdf
        await self._with_passphrase(
            new_passphrase, lambda ks, pw: ks.replace_passphrase(target, pw, params)
        )

    async def add_keyring(self, service: str = keyring_slot.DEFAULT_SERVICE) -> None:
        """Add a keyring slot: a random key stored in the OS keyring under ``service``."""
        await self._change_slots(lambda ks: ks.add_keyring(service))

    async def add_key(self, key: bytes) -> None:
        """Add a slot for a 32-byte raw key."""
        check_raw_key(key)
        await self._change_slots(lambda ks: ks.add_raw_key(key))

    async def remove_slot(self, index: int) -> None:
        """Remove key slot ``index`` (see :attr:`key_slots`); the last slot is never removed.
        A keyring slot's entry is deleted from the keyring too."""
        removed: list[Slot] = []
        await self._change_slots(lambda ks: removed.append(ks.remove(index)))
        for slot in removed:
            if isinstance(slot, KeyringSlot):
                await self._run(keyring_slot.delete_secret, slot.service, self._vault_id)

    async def remove_key(self, key: bytes) -> None:
        """Remove the slot that the raw ``key`` opens."""
        index = self._open_keyset().find_raw_key(key)
        if index is None:
            raise KeySlotError("no key slot of this session opens with that raw key")
        await self.remove_slot(index)

    async def _with_passphrase(
        self, passphrase: Passphrase, change: Callable[[Keyset, bytearray], object]
    ) -> None:
        secret = passphrase_bytes(passphrase)
        try:
            await self._change_slots(lambda ks: change(ks, secret))
        finally:
            wipe(secret)

    async def _change_slots(self, change: Callable[[Keyset], object]) -> None:
        """Apply ``change`` to the slots and re-seal the stored auth key under the new header;
        on failure the slots are restored and nothing stored changes."""
        keyset = self._open_keyset()
        async with self._write_lock:
            old_slots, old_unlocked_by = keyset.slots, keyset.unlocked_by
            try:
                plain = await self._read_auth_key(keyset)
                await self._run(change, keyset)
                if plain is not None:
                    await self._write_auth_key(keyset, plain, purge=True)
            except BaseException:
                keyset.slots, keyset.unlocked_by = old_slots, old_unlocked_by
                keyset.drop_pending()
                raise
            self._slots = keyset.slots

    # --- everything else passes through --------------------------------------------------------

    async def update_peers(self, peers: Iterable[AnyPeerRow]) -> None:
        await self.inner.update_peers(peers)

    async def update_usernames(self, usernames: Iterable[UsernameRow]) -> None:
        await self.inner.update_usernames(usernames)

    async def get_peer_by_id(self, peer_id: int) -> Any:
        return await self.inner.get_peer_by_id(peer_id)

    async def get_peer_by_username(self, username: str) -> Any:
        return await self.inner.get_peer_by_username(username)

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        return await self.inner.get_peer_by_phone_number(phone_number)

    async def update_state(self, value: StateRow | int | Unset = UNSET) -> list[StateRow] | None:
        return await _through(self.inner.update_state, value)  # type: ignore[no-any-return]

    async def get_update_states(self, ids: int | Iterable[int] | None = None) -> list[Any]:
        return await self.inner.get_update_states(ids)

    async def set_update_state(
        self, update_state: UpdateStateLike | Iterable[UpdateStateLike]
    ) -> None:
        await self.inner.set_update_state(update_state)

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        await self.inner.delete_update_state(state_id)

    async def server_address(self, value: str | Unset | None = UNSET) -> str | None:
        return await self._field("server_address", value)  # type: ignore[no-any-return]

    async def port(self, value: int | Unset | None = UNSET) -> int | None:
        return await self._field("port", value)  # type: ignore[no-any-return]

    async def _field(self, name: str, value: Any) -> Any:
        """Every session field but the auth key passes straight through to the inner storage."""
        return await _through(getattr(self.inner, name), value)


async def _through(method: Callable[..., Awaitable[Any]], value: object) -> Any:
    """Call an inner accessor the way a user's subclass expects: no argument to read."""
    return await (method() if value is UNSET else method(value))


async def _purge(inner: Storage) -> None:
    """Ask the inner storage to drop stale copies of the old value (journals, WAL)."""
    purge = getattr(inner, "purge_stale_copies", None)
    if purge is not None:
        await purge()


def _is_plain_auth_key(stored: object) -> bool:
    return classify_auth_key(stored) == "plaintext"


def _binding(name: str) -> bytes:
    """The session name bound into the envelope (hashed if longer than a binding may be)."""
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) <= 255:
        return encoded
    return b"sha256:" + hashlib.sha256(encoded).hexdigest().encode("ascii")
