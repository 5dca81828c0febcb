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
"""

from __future__ import annotations

import hashlib
from typing import cast

from ..errors import CorruptedError, PlaintextSessionError, RebindNeededError
from ..session_string import AUTH_KEY_SIZE
from .envelope import VERSION, Envelope, Purpose, classify_auth_key, parse
from .identity import NO_IDENTITY, SessionIdentity
from .keyset import Keyset
from .wipe import wipe

__all__ = [
    "PLAINTEXT_DANGER",
    "PLAIN_STRING",
    "AuthKeySealer",
    "binding_for",
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


class AuthKeySealer:
    """Seals auth keys under ``keyset`` for the session called ``name`` (bound into each
    envelope, see :func:`binding_for`) and :attr:`identity`, and opens them. See the module
    docstring."""

    def __init__(self, keyset: Keyset, name: str, identity: SessionIdentity = NO_IDENTITY) -> None:
        self.keyset = keyset
        self.name = name
        self.binding = binding_for(name)
        #: The session fields stored next to the envelope: bound by :meth:`seal`, required by
        #: :meth:`open`. Set it (then :meth:`seal` again) when the session's fields change.
        self.identity = identity
        self._sealed: bytes | None = None
        self._plain = bytearray()

    def with_keyset(self, keyset: Keyset) -> AuthKeySealer:
        """A sealer for the same session and identity under another ``keyset``."""
        return AuthKeySealer(keyset, self.name, self.identity)

    def __repr__(self) -> str:
        return f"AuthKeySealer({self.keyset!r})"

    def seal(self, auth_key: bytes | bytearray) -> bytes:
        """The envelope of a 256-byte ``auth_key``, bound to this session."""
        if len(auth_key) != AUTH_KEY_SIZE:
            raise ValueError(f"an auth key is {AUTH_KEY_SIZE} bytes, got {len(auth_key)}")
        envelope = self.keyset.seal(Purpose.AUTH_KEY, self.binding, bytes(auth_key), self.identity)
        self._remember(envelope, auth_key)
        return envelope

    def open(
        self, stored: object, *, rebind: bool = False, identity: SessionIdentity | None = None
    ) -> bytes:
        """The auth key inside the stored value ``stored``.

        :class:`~vault.errors.PlaintextSessionError` if ``stored`` is a plaintext key (never
        accepted: see :data:`PLAINTEXT_DANGER`), :class:`~vault.errors.CorruptedError` if it is
        not bytes, was modified, or was sealed for another session or another identity
        (unless ``rebind``: after a rename or an edit on purpose; then :meth:`needs_rebind`
        tells whether to store it sealed anew). The identity required is :attr:`identity`,
        or ``identity`` (the session fields as stored now), which becomes :attr:`identity`
        once the envelope opened.
        """
        if identity is None and stored is not None and stored == self._sealed:
            return bytes(self._plain)
        bound = self.identity if identity is None else identity
        envelope = parse_stored(stored, self.name, rebind=rebind, identity=bound)
        plain = self.cached(stored)
        if plain is None:
            plain = self.keyset.open(envelope, Purpose.AUTH_KEY)
            self._remember(bytes(cast(bytes, stored)), plain)  # parse() checked the type
        self.identity = bound
        return plain

    def cached(self, stored: object) -> bytes | None:
        """The auth key if ``stored`` is the envelope last sealed or opened, else ``None``."""
        if stored is not None and stored == self._sealed:
            return bytes(self._plain)
        return None

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
        """Wipe the cached plaintext and the keyset; the sealer cannot be used afterwards."""
        self.forget()
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
