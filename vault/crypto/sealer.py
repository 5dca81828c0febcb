"""AuthKeySealer: seal and open one session's auth key, with no storage involved.

A sealer holds an unlocked :class:`~vault.crypto.keyset.Keyset` and the session's binding (its
name, authenticated in every envelope). It is synchronous and does no I/O: a storage wrapper
(:class:`~vault.EncryptedStorage`, or an integration for another client library) reads the
stored value, hands it to :meth:`AuthKeySealer.open`, and stores what :meth:`AuthKeySealer.seal`
returns::

    sealer = AuthKeySealer(keyset, "my_account")
    stored = sealer.seal(auth_key)      # bytes to store in place of the key
    auth_key = sealer.open(stored)      # raises CorruptedError / PlaintextSessionError
    sealer.close()                      # wipes the cached plaintext and the keyset

From format version 2 each envelope also binds the session's :attr:`AuthKeySealer.identity`
(its ``dc_id``, ``test_mode`` and ``user_id``, see :mod:`vault.crypto.identity`): the caller
sets it to the fields stored next to the envelope, and :meth:`AuthKeySealer.open` refuses an
envelope sealed for other values. A version 1 envelope binds no identity and still opens.

The last envelope sealed or opened and its plaintext are cached (the plaintext in a
``bytearray``, wiped on :meth:`~AuthKeySealer.forget` and :meth:`~AuthKeySealer.close`): opening
the same envelope again costs no parsing or decryption.

From format version 2 the envelope may also hold the session's peer index key
(:attr:`AuthKeySealer.index_key`, see :mod:`vault.crypto.peer_index`): every envelope sealed
carries it, so it is re-sealed with the auth key on every passphrase change and data-key
rotation; a session not logged in stores an envelope holding only the index key.
"""

from __future__ import annotations

import hashlib
from typing import cast

from ..errors import CorruptedError, PlaintextSessionError, RebindNeededError
from ..session_string import AUTH_KEY_SIZE
from .aead import OVERHEAD
from .envelope import VERSION, Envelope, Purpose, classify_auth_key, parse
from .identity import NO_IDENTITY, SessionIdentity
from .keyset import Keyset
from .peer_index import INDEX_KEY_SIZE
from .wipe import wipe

__all__ = [
    "PLAINTEXT_DANGER",
    "PLAIN_STRING",
    "AuthKeySealer",
    "binding_for",
    "holds_index_key",
    "is_plain_auth_key",
    "parse_stored",
]

#: What to do about a plaintext key found where a sealed one belongs (in the words of Python).
PLAINTEXT_DANGER = (
    "A session that was encrypted before never holds a plaintext key again: someone with write "
    "access to it may have replaced the sealed key with their own, so do not trust it; restore "
    "the session from a backup. Only if this session was never encrypted, encrypt it with "
    "`await EncryptedStorage.encrypt_plaintext(inner, ...)` (CLI: `session-vault encrypt`)"
)

#: Why a plain session string given to EncryptedStorage was refused.
PLAIN_STRING = (
    "the session string given is not encrypted; to seal it, pass it to "
    "`await EncryptedStorage.encrypt_plaintext(inner, session_string=..., ...)`"
)


#: The auth-key part of a payload that holds only the index key (a session not logged in):
#: never a real auth key, and it keeps every envelope longer than a plaintext key.
NO_AUTH_KEY = bytes(AUTH_KEY_SIZE)


class AuthKeySealer:
    """Seals auth keys under ``keyset`` for the session called ``name`` (bound into each
    envelope, see :func:`binding_for`) and :attr:`identity`, and opens them. See the module
    docstring."""

    def __init__(
        self,
        keyset: Keyset,
        name: str,
        identity: SessionIdentity = NO_IDENTITY,
        *,
        index_key: bytes | None = None,
    ) -> None:
        self.keyset = keyset
        self.name = name
        self.binding = binding_for(name)
        #: The session fields stored next to the envelope: bound by :meth:`seal`, required by
        #: :meth:`open`. Set it (then :meth:`seal` again) when the session's fields change.
        self.identity = identity
        self._sealed: bytes | None = None
        self._plain = bytearray()
        self._index_key = bytearray(index_key or b"")
        self._check_index_key(self._index_key)

    # --- the peer index key (docs/format.md, "v2: peer index key") ---------------------------

    @property
    def index_key(self) -> bytes | None:
        """The peer index key sealed with the auth key (``None``: the peer cache is not
        sealed). Set by the constructor, :meth:`set_index_key`, or opening an envelope that
        holds one; sealed into every envelope from then on."""
        return bytes(self._index_key) if self._index_key else None

    def set_index_key(self, index_key: bytes) -> None:
        """Seal ``index_key`` (32 bytes) with the auth key from the next :meth:`seal` on."""
        if not index_key:
            raise ValueError("an index key, once set, is never removed")
        self._check_index_key(index_key)
        wipe(self._index_key)
        self._index_key = bytearray(index_key)
        self.forget()

    @staticmethod
    def _check_index_key(index_key: bytes | bytearray) -> None:
        if index_key and len(index_key) != INDEX_KEY_SIZE:
            raise ValueError(f"an index key is {INDEX_KEY_SIZE} bytes, got {len(index_key)}")

    # --- sealing and opening -----------------------------------------------------------------

    def with_keyset(self, keyset: Keyset) -> AuthKeySealer:
        """A sealer for the same session, identity and index key under another ``keyset``."""
        return AuthKeySealer(keyset, self.name, self.identity, index_key=self.index_key)

    def __repr__(self) -> str:
        return f"AuthKeySealer({self.keyset!r})"

    def seal(self, auth_key: bytes | bytearray | None) -> bytes:
        """The envelope of a 256-byte ``auth_key`` and the :attr:`index_key`, bound to this
        session and :attr:`identity`. ``None`` (not logged in) is sealable only with an index
        key to keep."""
        if auth_key is not None and (len(auth_key) != AUTH_KEY_SIZE or auth_key == NO_AUTH_KEY):
            raise ValueError(f"an auth key is {AUTH_KEY_SIZE} bytes, not all zero")
        if auth_key is None and not self._index_key:
            raise ValueError("nothing to seal: no auth key and no index key")
        payload = bytes(auth_key or NO_AUTH_KEY) + bytes(self._index_key)
        envelope = self.keyset.seal(Purpose.AUTH_KEY, self.binding, payload, self.identity)
        self._remember(envelope, payload)
        return envelope

    def open(
        self, stored: object, *, rebind: bool = False, identity: SessionIdentity | None = None
    ) -> bytes | None:
        """The auth key inside the stored value ``stored`` (``None`` if it holds only an index
        key). An index key found in it becomes :attr:`index_key`.

        :class:`~vault.errors.PlaintextSessionError` if ``stored`` is a plaintext key (never
        accepted: see :data:`PLAINTEXT_DANGER`), :class:`~vault.errors.CorruptedError` if it is
        not bytes, was modified, or was sealed for another session or another identity
        (unless ``rebind``: after a rename or an edit on purpose; then :meth:`needs_rebind`
        tells whether to store it sealed anew). The identity required is :attr:`identity`,
        or ``identity`` (the session fields as stored now), which becomes :attr:`identity`
        once the envelope opened.
        """
        if identity is None and self.is_cached(stored):
            return self._auth_key()
        bound = self.identity if identity is None else identity
        envelope = parse_stored(stored, self.name, rebind=rebind, identity=bound)
        if not self.is_cached(stored):
            plain = self.keyset.open(envelope, Purpose.AUTH_KEY)
            self._remember(bytes(cast(bytes, stored)), plain)  # parse() checked the type
            if len(plain) > AUTH_KEY_SIZE:
                wipe(self._index_key)
                self._index_key = bytearray(self._plain[AUTH_KEY_SIZE:])
        self.identity = bound
        return self._auth_key()

    def is_cached(self, stored: object) -> bool:
        """Whether ``stored`` is the envelope last sealed or opened (:meth:`open` without an
        ``identity`` then returns its key at once)."""
        return stored is not None and stored == self._sealed

    def _auth_key(self) -> bytes | None:
        auth_key = bytes(self._plain[:AUTH_KEY_SIZE])
        return None if auth_key == NO_AUTH_KEY else auth_key

    def parse(self, stored: object, *, rebind: bool = False) -> Envelope:
        """Check the stored value's type, shape and binding without decrypting it."""
        return parse_stored(stored, self.name, rebind=rebind, identity=self.identity)

    def needs_rebind(self, stored: object) -> bool:
        """Whether ``stored`` (a valid envelope) is bound to another name or identity than this
        session's, or is of version 1 (binds no identity): then seal it anew."""
        header = self.parse(stored, rebind=True).header
        return (header.binding, header.version, header.identity) != (
            self.binding,
            VERSION,
            self.identity,
        )

    def forget(self) -> None:
        """Drop (and wipe) the cached plaintext, e.g. before the stored value changes."""
        self._remember(None, b"")

    def close(self) -> None:
        """Wipe the cached plaintext, the index key and the keyset; the sealer cannot be used
        afterwards."""
        self.forget()
        wipe(self._index_key)
        self._index_key = bytearray()
        self.keyset.wipe()

    def _remember(self, sealed: bytes | None, plain: bytes | bytearray) -> None:
        wipe(self._plain)
        self._sealed, self._plain = sealed, bytearray(plain)


def parse_stored(
    stored: object, name: str, *, rebind: bool = False, identity: SessionIdentity | None = None
) -> Envelope:
    """The envelope in the auth key field of session ``name``, checked for type, shape and
    (unless ``rebind``) binding and, for version 2, ``identity`` (the session fields stored
    with it; ``None``: not checked); no key needed. A plaintext key raises
    :class:`~vault.errors.PlaintextSessionError`."""
    if is_plain_auth_key(stored):
        raise PlaintextSessionError(
            f"the session {name!r} holds an unencrypted auth key. {PLAINTEXT_DANGER}"
        )
    if not isinstance(stored, bytes | bytearray | memoryview):
        raise CorruptedError(
            f"the auth key field of {name!r} holds {type(stored).__name__}, not bytes"
        )
    envelope = parse(bytes(stored), Purpose.AUTH_KEY)
    if not rebind and envelope.header.binding != binding_for(name):
        raise RebindNeededError(
            f"the encrypted auth key stored in {name!r} was sealed for another session: it "
            "was swapped or copied in. If you renamed this session on purpose, open it once "
            "with rebind=True"
        )
    bound = envelope.header
    if not rebind and identity is not None and bound.version >= 2 and bound.identity != identity:
        raise CorruptedError(
            f"the session {name!r} was changed outside vault: "
            f"{bound.identity.differences(identity)}. Someone with write access may have "
            "pointed it at another data center or relabelled it; restore it from a backup. If "
            "you changed it on purpose, or a crash interrupted a data-center migration or a "
            "login, open it once with rebind=True"
        )
    return envelope


def holds_index_key(envelope: Envelope) -> bool:
    """Whether an auth-key envelope carries a peer index key (seen from its payload size, no
    key needed): its session's peer cache is sealed."""
    return len(envelope.sealed) - OVERHEAD > AUTH_KEY_SIZE


def is_plain_auth_key(stored: object) -> bool:
    """Whether ``stored`` is a plaintext auth key (see
    :func:`~vault.crypto.envelope.classify_auth_key`, the one test the CLI uses too)."""
    return classify_auth_key(stored) == "plaintext"


def binding_for(name: str) -> bytes:
    """The session name as bound into the envelope (hashed if longer than a binding may be)."""
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) <= 255:
        return encoded
    return b"sha256:" + hashlib.sha256(encoded).hexdigest().encode("ascii")
