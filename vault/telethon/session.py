"""EncryptedSession: any Telethon session, with its auth key sealed before it is stored."""

from __future__ import annotations

import logging
from typing import Any

from telethon.crypto import AuthKey
from telethon.sessions import Session, StringSession

from ..crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from ..crypto.slots import Slot
from ..errors import InvalidValueError, PlaintextSessionError
from ..keyslots import KeySlots
from ..unlock_args import UnlockArgs
from ._field import SessionAuthKey, stored_key
from ._sealer import (
    AuthKeySealer,
    delete_keyring_entries,
    is_plain_auth_key,
    new_keyset,
    parse_envelope,
    parse_stored,
    unlock_keyset,
)
from .files import session_name, session_path, tighten
from .strings import (
    TelethonData,
    encode_telethon_string,
    envelope_of,
    open_telethon,
    seal_telethon,
)

__all__ = ["EncryptedSession"]

log = logging.getLogger(__name__)

#: What to do about a plaintext key where a sealed one belongs.
_PLAINTEXT_DANGER = (
    "A session that was encrypted before never holds a plaintext key again: someone with "
    "write access to it may have replaced the sealed key with their own, so do not trust it; "
    "restore it from a backup. Only if this session was never encrypted, encrypt it once with "
    "vault.telethon.encrypt_session_file() (a file) or vault.telethon.encrypt_telethon_string() "
    "(a StringSession string)"
)


class EncryptedSession(Session):  # type: ignore[misc]  # Telethon ships no type hints
    """A Telethon session whose auth key is sealed before the wrapped session stores it;
    everything else (dc, address, port, entities, update state, files) passes through::

        session = EncryptedSession(SQLiteSession("my_account"), passphrase=os.environ["PW"])
        client = TelegramClient(session, api_id, api_hash)   # client.session is session

    ``inner`` is any Telethon session: ``SQLiteSession`` (its file keeps Telethon's layout,
    with an envelope in the ``auth_key`` column, and is made 0600), ``MemorySession``,
    ``StringSession`` or your own subclass. Unlock with ``passphrase`` (str, bytes or a
    zero-argument callable), ``keyring`` (``True`` or a service name) or ``key`` (32 bytes);
    a new session gets one key slot for each one given. As for ``EncryptedStorage``, an
    unlock spends at most ``kdf_budget`` on Argon2id (stored costs are not authenticated yet)
    and a ``kdf`` beyond it needs a larger one, e.g. ``KdfBudget.admitting(kdf)``.

    Telethon's sessions are synchronous, so the constructor unlocks at once: it runs
    Argon2id (about a second with the default ``kdf``) and raises here, not later inside the
    client: :class:`~vault.errors.WrongKeyError`, :class:`~vault.errors.KdfBudgetError`,
    :class:`~vault.errors.CorruptedError`
    (modified, or copied from another session: after a deliberate rename pass
    ``rebind=True``) or :class:`~vault.errors.PlaintextSessionError` for a session that is
    not encrypted yet, which is never encrypted implicitly: use
    :func:`~vault.telethon.encrypt_session_file` or
    :func:`~vault.telethon.encrypt_telethon_string` once. Build it before the event loop
    runs, or in ``asyncio.to_thread``, so the KDF does not stall other tasks.
    """

    def __init__(
        self,
        inner: Any,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
        kdf: KdfParams = DEFAULT_KDF,
        rebind: bool = False,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
    ) -> None:
        # The same checks (and messages) as EncryptedStorage's; the arguments themselves are
        # used below, at once, since a Telethon session unlocks in its constructor.
        UnlockArgs(passphrase, keyring, key, kdf, kdf_budget, owner="EncryptedSession").wipe()
        self._check_inner(inner)
        name = _name(inner)
        stored = stored_key(inner)
        creds: dict[str, Any] = {"passphrase": passphrase, "keyring": keyring, "key": key}
        if stored is None:
            keyset = new_keyset(kdf, **creds)
        else:
            # Every refusal comes before the KDF: a swapped-in value costs nothing to refuse.
            if is_plain_auth_key(stored):
                raise PlaintextSessionError(
                    f"the {_describe(inner)} is not encrypted. {_PLAINTEXT_DANGER}"
                )
            header = parse_stored(stored, name, rebind=rebind).header
            keyset = unlock_keyset(header, **creds, kdf_budget=kdf_budget)
        self._attach(inner, AuthKeySealer(keyset, name), kdf, kdf_budget)
        if stored is not None and self._sealer.needs_rebind(stored):
            self._field.store(self._sealer.open(stored, rebind=True))
            inner.save()
            log.info("re-bound the encrypted auth key to the %s", _describe(inner))

    @staticmethod
    def _check_inner(inner: Any) -> None:
        if isinstance(inner, EncryptedSession):
            raise TypeError("this session is already an EncryptedSession; wrap it only once")
        if not isinstance(inner, Session):
            raise TypeError(
                "EncryptedSession wraps a telethon.sessions.Session (SQLiteSession, "
                f"MemorySession, StringSession...), not {type(inner).__name__}"
            )
        if getattr(inner, "store_tmp_auth_key_on_disk", False):
            raise ValueError(
                "SQLiteSession(store_tmp_auth_key_on_disk=True) would store the temporary "
                "auth key unencrypted; create it without that option"
            )

    def _attach(
        self, inner: Any, sealer: AuthKeySealer, kdf: KdfParams, kdf_budget: KdfBudget
    ) -> None:
        super().__init__()
        self.inner = inner
        filename = _filename(inner)
        self._field = SessionAuthKey(inner, sealer, filename)
        #: The key-slot management (vault's :class:`~vault.keyslots.KeySlots`; its changes
        #: are coroutines): ``await session.slots.add_key(key)``, ``.remove(index)``,
        #: ``.change_passphrase(new)``... Each change re-seals the key under a fresh data key
        #: and rebuilds the file so no older envelope is left in it.
        self.slots = KeySlots(self._field, kdf, kdf_budget)
        if filename is not None:
            tighten(session_path(filename))

    @property
    def _sealer(self) -> AuthKeySealer:
        return self._field.sealer

    @classmethod
    def from_string(
        cls,
        encrypted: str,
        *,
        passphrase: Passphrase | None = None,
        keyring: bool | str = False,
        key: bytes | None = None,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
        kdf: KdfParams = DEFAULT_KDF,
    ) -> EncryptedSession:
        """Resume from an encrypted Telethon string (``vault1-telethon:...``, from
        :func:`~vault.telethon.encrypt_telethon_string` or :meth:`export_session_string`),
        held in memory; :meth:`save` then returns the updated encrypted string::

            session = EncryptedSession.from_string(os.environ["TG_SESSION"], passphrase=pw)
            client = TelegramClient(session, api_id, api_hash)

        Raises as the constructor does, and :class:`~vault.errors.InvalidSessionString` for
        a string that is not an encrypted Telethon string. ``kdf`` is used for passphrase
        slots added later through :attr:`slots`.
        """
        envelope = envelope_of(encrypted)
        header = parse_envelope(envelope).header
        keyset = unlock_keyset(header, passphrase, keyring, key, kdf_budget)
        try:
            data = open_telethon(keyset, envelope)
        except BaseException:
            keyset.wipe()
            raise
        inner = StringSession()
        session = cls.__new__(cls)
        session._attach(inner, AuthKeySealer(keyset, _name(inner)), kdf, kdf_budget)
        session.set_dc(data.dc_id, data.server_address, data.port)
        session.auth_key = AuthKey(data.auth_key)
        return session

    def __repr__(self) -> str:
        kinds = ", ".join(slot.kind.name.lower() for slot in self.key_slots)
        return f"{type(self).__name__}({type(self.inner).__name__}, slots=[{kinds}])"

    # --- the sealed field --------------------------------------------------------------------

    @property
    def auth_key(self) -> Any:
        """The auth key (a ``telethon.crypto.AuthKey``), decrypted on read and sealed before
        the wrapped session stores it; ``None`` before the first login."""
        stored = stored_key(self.inner)
        if stored is None:
            return None
        if is_plain_auth_key(stored):
            raise PlaintextSessionError(
                f"an unencrypted auth key was written into the {_describe(self.inner)} behind "
                f"EncryptedSession's back. {_PLAINTEXT_DANGER}"
            )
        plain = self._sealer.open(stored)
        return None if plain is None else AuthKey(plain)

    @auth_key.setter
    def auth_key(self, value: Any) -> None:
        if not value:  # None, or an empty AuthKey (Telethon's way to drop the key)
            self._field.store(None)
        elif not isinstance(value, AuthKey):
            raise TypeError(f"auth_key must be a telethon.crypto.AuthKey, not {type(value)}")
        elif value != self.auth_key:  # Telethon sets the same key again on every connect
            self._field.store(value.key)

    @property
    def key_slots(self) -> tuple[Slot, ...]:
        """The vault's key slots (kinds, KDF parameters, keyring services; no secrets)."""
        return self.slots.all

    # --- strings -----------------------------------------------------------------------------

    def save(self) -> Any:
        """Persist the wrapped session (``SQLiteSession``: commit). Over a ``StringSession``
        this returns the session as an encrypted string (``""`` before login), never the
        plain one."""
        if isinstance(self.inner, StringSession):
            return self.export_session_string() if self.auth_key else ""
        return self.inner.save()

    def export_session_string(self) -> str:
        """The session as an encrypted Telethon string (``vault1-telethon:...``) that opens
        with this session's key slots: safe for a CI secret or an environment variable."""
        return seal_telethon(self._sealer.keyset, self._data())

    def export_plain_session_string(self) -> str:
        """DANGEROUS: the session as a plain Telethon ``StringSession`` string. Anyone who
        sees it has the account. Prefer :meth:`export_session_string`."""
        return encode_telethon_string(self._data())

    def _data(self) -> TelethonData:
        auth_key = self.auth_key
        if not auth_key:
            raise InvalidValueError("the session has no auth key yet; log in first")
        return TelethonData(self.dc_id, self.server_address, self.port, auth_key.key)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> Any:
        """Close the wrapped session. The vault stays unlocked: Telethon calls this on every
        disconnect and may connect again with the same session."""
        return self.inner.close()

    def delete(self) -> Any:
        """Delete the wrapped session (Telethon does on ``log_out()``) and this vault's
        keyring entries (best effort)."""
        result = self.inner.delete()
        delete_keyring_entries(self._sealer.keyset)
        return result

    def clone(self, to_instance: Any = None) -> Any:
        # Telethon clones for short-lived CDN connections; the wrapped session's clone is an
        # empty in-memory session, which never holds this session's key.
        return self.inner.clone(to_instance)

    # --- everything else passes through ------------------------------------------------------

    def set_dc(self, dc_id: int, server_address: str, port: int) -> None:
        self.inner.set_dc(dc_id, server_address, port)

    @property
    def dc_id(self) -> Any:
        return self.inner.dc_id

    @property
    def server_address(self) -> Any:
        return self.inner.server_address

    @property
    def port(self) -> Any:
        return self.inner.port

    @property
    def takeout_id(self) -> Any:
        return self.inner.takeout_id

    @takeout_id.setter
    def takeout_id(self, value: Any) -> None:
        self.inner.takeout_id = value

    def get_update_state(self, entity_id: int) -> Any:
        return self.inner.get_update_state(entity_id)

    def set_update_state(self, entity_id: int, state: Any) -> None:
        self.inner.set_update_state(entity_id, state)

    def get_update_states(self) -> Any:
        return self.inner.get_update_states()

    def process_entities(self, tlo: Any) -> None:
        self.inner.process_entities(tlo)

    def get_input_entity(self, key: Any) -> Any:
        return self.inner.get_input_entity(key)

    def cache_file(self, md5_digest: bytes, file_size: int, instance: Any) -> None:
        self.inner.cache_file(md5_digest, file_size, instance)

    def get_file(self, md5_digest: bytes, file_size: int, cls: Any) -> Any:
        return self.inner.get_file(md5_digest, file_size, cls)


def _filename(inner: Any) -> str | None:
    """The file of a wrapped ``SQLiteSession`` (``None`` in memory)."""
    filename = getattr(inner, "filename", None)
    return filename if isinstance(filename, str) and filename != ":memory:" else None


def _name(inner: Any) -> str:
    """The name the auth key is bound to: a file's session name; ``""`` in memory."""
    filename = _filename(inner)
    return "" if filename is None else session_name(filename)


def _describe(inner: Any) -> str:
    filename = _filename(inner)
    return type(inner).__name__ if filename is None else f"session file {filename}"
