"""The one notion every command works on: a :class:`Target`, one session wherever it is kept
(a session file, a session in MongoDB), and what it holds as read without any key.

A command is written once against :class:`Target`: it reads a :class:`SessionView`, opens a
read-only :meth:`~Target.snapshot`, or changes the session with :meth:`~Target.change`. Each
kind of target keeps its own way of making a change safe: a file is rebuilt as a verified
copy that atomically replaces it (:mod:`.rewrite`), or encrypted in place
(:meth:`~Target.change_in_place`), a MongoDB session is changed in one
document update under its lease, checked by reading it back, and put back if the check fails.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from ..crypto.envelope import Header, Purpose, classify_auth_key, parse
from ..crypto.sealer import holds_index_key
from ..errors import CorruptedError
from ..session_string import SessionData
from ..storage import Storage
from .vaults import Edit, Outcome, editing, opened, sealing_cache, unlocking

__all__ = [
    "CACHE_TABLES",
    "INFO_FIELDS",
    "SESSION_FIELDS",
    "SessionView",
    "Target",
    "stored_header",
]

#: The session fields, named as the storage contract's accessors: those a session string
#: carries (:class:`~vault.session_string.SessionData`) and the time of the last save.
SESSION_FIELDS = (*(f.name for f in dataclasses.fields(SessionData)), "date")
#: The fields ``info`` shows: all but the auth key.
INFO_FIELDS = tuple(f for f in SESSION_FIELDS if f != "auth_key")
#: What ``info`` counts, and the table (or collection) holding it.
CACHE_TABLES = {"peers": "peers", "usernames": "usernames", "update_states": "update_state"}

SnapshotT = TypeVar("SnapshotT", bound=Storage)


@dataclass(frozen=True)
class SessionView:
    """What a session holds, read without any key (no auth key in here)."""

    #: Where the session is, as ``info`` reports it (``session_name`` included).
    place: dict[str, Any]
    header: Header | None  # the envelope header if the auth key is encrypted
    has_auth_key: bool
    fields: dict[str, Any]  # INFO_FIELDS
    counts: dict[str, int]  # keyed as CACHE_TABLES
    #: Whether the peer cache stores tokens in place of usernames and phone numbers.
    peers_sealed: bool = False
    #: Whether a command sealing the stored cache was stopped after storing the index key;
    #: :meth:`Target.finish_sealing` ends its work (``peers_sealed`` is False until then).
    sealing_unfinished: bool = False

    @property
    def encrypted(self) -> bool:
        return self.header is not None


class Target(abc.ABC, Generic[SnapshotT]):
    """One session a command works on. ``SnapshotT`` is the type of its read-only copies."""

    #: The session name, which the envelope binds.
    name: str
    #: How messages name the session (a path; never a connection string).
    label: str
    #: How a command line names the session (for hints such as "run encrypt ... first").
    cli_args: str
    #: How Python code makes the session's bare storage (for the hint after ``encrypt``).
    storage_code: str
    #: The class Python code wraps :attr:`storage_code` in to open the session encrypted.
    vault_code: str = "EncryptedStorage"
    #: What a sealed peer cache of this kind of target stores as tokens (as ``info`` says).
    cached_values: str = "usernames and phone numbers"

    def __str__(self) -> str:
        return self.label

    @abc.abstractmethod
    async def snapshot(self) -> SnapshotT:
        """An unopened copy of the session as it is now; nothing done through it (opening it
        included) changes the session."""

    @abc.abstractmethod
    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the session for a command that changes it: call :meth:`view` and
        :meth:`change` inside. A file takes the lock a running client takes; a MongoDB
        session's lease is taken by :meth:`change` itself."""

    @abc.abstractmethod
    async def change(self, edit: Edit) -> Outcome:
        """Change the session by what ``edit`` does to it, check that the result opens with
        the outcome's credentials and gives the same auth key, and only then keep it. Any
        failure leaves the session as it was; so does a crash at any moment."""

    async def change_in_place(self, edit: Edit) -> Outcome:
        """Like :meth:`change`, but where the medium allows it the session itself is edited
        rather than replaced by a changed copy, so what the edit overwrites (a plaintext auth
        key) does not stay behind in the old copy's bytes; a crash still leaves the old or the
        new session. A failed check can no longer put the old session back."""
        return await self.change(edit)

    async def seal_peers(self, unlock: dict[str, Any], *, rebind: bool) -> None:
        """Give the peer cache of the encrypted session an index key and replace every cached
        value :attr:`cached_values` names by its token; call it inside :meth:`locked`.
        ``unlock``: the unlocking options; ``rebind``: see :func:`~.vaults.unlocking`. A
        crash leaves the session's lookups working (and, where the medium can, the old or the
        new session)."""
        edit = editing(unlocking(unlock, rebind=rebind), sealing_cache(unlock))
        await self.change_in_place(edit)

    async def finish_sealing(self) -> None:
        """End the work of a sealing stopped after it stored the index key
        (:attr:`SessionView.sealing_unfinished`); it needs no secret. Call it inside
        :meth:`locked`. Only a target whose seal takes more than one write has such a state."""

    def _sealing_started(self, snapshot: SnapshotT) -> bool:
        """Whether the session records a sealing of its stored cache in progress."""
        return False

    @abc.abstractmethod
    async def _place(self, snapshot: SnapshotT) -> dict[str, Any]:
        """:attr:`SessionView.place` of an open snapshot."""

    @abc.abstractmethod
    async def _counts(self, snapshot: SnapshotT) -> dict[str, int]:
        """How many peers, usernames and update states the session caches."""

    @abc.abstractmethod
    def head(self, facts: dict[str, Any]) -> list[str]:
        """The first lines of ``info``: where the session is (``facts``: its JSON form)."""

    async def view(self) -> SessionView:
        """Read what the session holds without changing it; schema and envelope errors are
        raised (the same detection as :class:`~vault.EncryptedStorage`'s)."""
        snapshot = await self.snapshot()
        snapshot.expects_envelopes = True  # classified here, never handed on as a key
        async with opened(snapshot):
            stored = await snapshot.auth_key()
            sealed, started = _peers_sealed(stored), self._sealing_started(snapshot)
            return SessionView(
                place=await self._place(snapshot),
                header=stored_header(stored, self.label),
                has_auth_key=stored is not None,
                fields={field: await getattr(snapshot, field)() for field in INFO_FIELDS},
                counts=await self._counts(snapshot),
                peers_sealed=sealed and not started,
                sealing_unfinished=sealed and started,
            )


def _peers_sealed(stored: object) -> bool:
    if classify_auth_key(stored) != "sealed":
        return False
    return holds_index_key(parse(bytes(cast(bytes, stored)), Purpose.AUTH_KEY))


def stored_header(stored: object, where: object) -> Header | None:
    """The envelope header of a stored auth key field; ``None`` for a plain key or none.

    Classified as :class:`~vault.EncryptedStorage` does: what starts with the envelope magic
    is an envelope, checked whole (a damaged or unknown one is an error, never plaintext)."""
    state = classify_auth_key(stored)
    if state in ("empty", "plaintext"):
        return None
    if state == "damaged":
        held = (
            f"{len(stored)} bytes"
            if isinstance(stored, bytes | bytearray | memoryview)
            else f"a {type(stored).__name__}"
        )
        raise CorruptedError(
            f"the auth key field of {where} holds {held}, neither a plain auth key nor a "
            "session-vault envelope; restore it from a backup"
        )
    assert isinstance(stored, bytes | bytearray | memoryview)
    return parse(bytes(stored), Purpose.AUTH_KEY).header
