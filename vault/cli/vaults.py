"""Opening sessions for one command, the edits commands make to a session, and the check
that a changed session still gives the same auth key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..crypto.peer_index import PeerIndex
from ..crypto.slots import Slot
from ..encrypted import EncryptedStorage
from ..errors import RebindNeededError
from ..storage import Storage
from .exits import CliError, Exit
from .sessionfile import SessionFile

__all__ = [
    "Change",
    "Edit",
    "Opener",
    "Outcome",
    "check_same_key",
    "editing",
    "migrating",
    "opened",
    "opened_vault",
    "read_auth_key",
    "rebind_needed",
    "sealing_cache",
    "unchanged",
    "unlocking",
]


@dataclass(frozen=True)
class Outcome:
    """What an edit left: the auth key the result must give, the credentials that must open
    it (``{}``: the key is now stored in the clear), the key slots after the edit and the
    vault's peer index (``None``: its peer cache is plain; usable only inside the edit)."""

    key: bytes = field(repr=False)
    check: dict[str, Any] = field(repr=False)
    slots: tuple[Slot, ...] = ()
    peer_index: PeerIndex | None = field(default=None, repr=False)

    @property
    def sealed(self) -> bool:
        """Whether the result keeps the auth key encrypted."""
        return bool(self.check)


#: Edits a session through the given (unopened) storage while the context is entered.
Edit = Callable[[Storage], AbstractAsyncContextManager[Outcome]]
#: Opens a storage as a vault for the ``async with`` block.
Opener = Callable[[Storage], AbstractAsyncContextManager[EncryptedStorage]]
#: Changes an open vault; returns the credentials that must open the result.
Change = Callable[[EncryptedStorage], Awaitable[dict[str, Any]]]


StorageT = TypeVar("StorageT", bound=Storage)


@asynccontextmanager
async def opened(storage: StorageT) -> AsyncIterator[StorageT]:
    """``storage``, opened for the ``async with`` block and closed after it."""
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


@asynccontextmanager
async def opened_vault(
    inner: Storage, *, encrypt_plaintext: bool = False, **kwargs: Any
) -> AsyncIterator[EncryptedStorage]:
    """An :class:`~vault.EncryptedStorage` over ``inner``, opened for the block; with
    ``encrypt_plaintext``, made by :meth:`~vault.EncryptedStorage.encrypt_plaintext`. A session
    sealed for another name is reported with the CLI's way out, ``--rebind``."""
    try:
        if encrypt_plaintext:
            storage = await EncryptedStorage.encrypt_plaintext(inner, **kwargs)
        else:
            storage = EncryptedStorage(inner, **kwargs)
            await storage.open()
    except RebindNeededError:
        raise rebind_needed(inner.name) from None
    try:
        yield storage
    finally:
        await storage.close()


def rebind_needed(name: str) -> CliError:
    """The error for a session ``name`` whose auth key was sealed for another name."""
    return CliError(
        Exit.BAD_DATA,
        f"the encrypted auth key of session {name!r} was sealed for another session "
        "name: the file was copied or renamed (or swapped in). If you copied or renamed it "
        "on purpose, run this command again with --rebind",
    )


def unlocking(
    unlock: dict[str, Any], *, session_string: str | None = None, rebind: bool = False
) -> Opener:
    """Opens an encrypted session with the credentials ``unlock`` (first loading an encrypted
    ``session_string`` into it, if given); with ``rebind`` (``--rebind``), one sealed for
    another session name too, sealing it anew for its own."""
    return lambda inner: opened_vault(inner, session_string=session_string, rebind=rebind, **unlock)


def migrating(new: dict[str, Any], *, session_string: str | None = None) -> Opener:
    """Opens a plaintext session (or loads a plain ``session_string``) and seals its auth key
    under new slots ``new``: the one place the command line encrypts a plaintext session."""
    return lambda inner: opened_vault(
        inner, session_string=session_string, encrypt_plaintext=True, **new
    )


def unchanged(check: dict[str, Any]) -> Change:
    """No change beyond opening: ``check``, the credentials that opened it, opens the result."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        return check

    return change


def sealing_cache(unlock: dict[str, Any]) -> Change:
    """Gives the vault's plain peer cache an index key; ``unlock`` opens the result."""

    async def change(storage: EncryptedStorage) -> dict[str, Any]:
        await storage.seal_peer_cache()
        return unlock

    return change


def editing(opener: Opener, change: Change) -> Edit:
    """The edit that opens a session with ``opener`` and applies ``change`` to it."""

    @asynccontextmanager
    async def edit(inner: Storage) -> AsyncIterator[Outcome]:
        async with opener(inner) as storage:
            # b"": an encrypted session not logged in (its envelope holds the peer index key).
            key = await storage.auth_key() or b""
            check = await change(storage)
            yield Outcome(key, check, storage.key_slots, storage.peer_index)

    return edit


async def read_auth_key(storage: Storage, **kwargs: Any) -> bytes | None:
    """Open the unopened ``storage`` (as a vault when ``kwargs`` carry credentials) and read
    its auth key."""
    if kwargs:
        async with opened_vault(storage, **kwargs) as vault:
            return await vault.auth_key()
    async with opened(storage) as plain:
        return await plain.auth_key()


async def check_same_key(temp: Path, name: str, expected: bytes, **kwargs: Any) -> None:
    """Open the copy ``temp`` (encrypted when ``kwargs`` carry credentials) and check that it
    yields the ``expected`` auth key."""
    if (await read_auth_key(SessionFile(temp, name), **kwargs) or b"") != expected:
        raise CliError(
            Exit.INTERNAL,
            "the new copy did not give back the same auth key; the original file was left "
            "unchanged (please report this)",
        )
