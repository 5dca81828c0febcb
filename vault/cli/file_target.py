"""A session file as a :class:`~vault.cli.target.Target`.

Encrypting and sealing the peer cache change the file itself (:meth:`FileTarget.change_in_place`),
so the plaintext auth key and the plain cached values are overwritten where they were rather
than left in the blocks of a replaced file. Other changes
never touch the file before they are finished: :func:`~vault.cli.rewrite.rewrite` builds a
verified copy next to it and atomically renames it over the file. Either way the session's lock
keeps running clients out. A new file (``import``) is built as a copy too and linked into place
only if no file has that name.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..storage import Storage
from . import atomic
from .atomic import link_new, remove_with_side_files, scan_for, temp_path
from .commands import warn
from .exits import CliError, Exit
from .installed_client import client_facts, client_lines
from .peer_cache import clear_cached_tokens
from .rewrite import overwrite_auth_key, rewrite
from .sessionfile import SCHEMA_NAMES, SessionFile, Snapshot, session_name
from .target import CACHE_TABLES, Target
from .vaults import (
    Edit,
    Outcome,
    check_same_key,
    editing,
    read_auth_key,
    sealing_cache,
    unlocking,
)

__all__ = ["FileTarget", "LockedFile"]

SnapshotT = TypeVar("SnapshotT", bound=Storage)


class LockedFile(Target[SnapshotT]):
    """What every session file target (Pyrogram family, Telethon) shares: :meth:`locked`
    refuses a symbolic link and a file another process has open, takes the clients' lock and
    makes the file owner-only (:func:`~vault.cli.atomic.locked`); the hard links to the file
    are counted and reported after a change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = self.cli_args = str(path)
        self._fd: int | None = None  # the locked descriptor, inside locked()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        with atomic.locked(self.path) as fd:
            self._fd = fd
            try:
                yield
            finally:
                self._fd = None

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return self._held()

    def _other_links(self) -> int:
        """How many other hard links the locked file has."""
        assert self._fd is not None
        return os.fstat(self._fd).st_nlink - 1

    def _replaced_links(self, others: int) -> None:
        """Warn that ``others`` hard links keep the version a replaced file had."""
        if others:
            warn(
                f"{self.path} had {others} other hard link(s); they were not changed and keep "
                "the previous version of the session: remove them, or run this on them too"
            )

    def _shared_links(self, others: int, what: str = "the encrypted session") -> None:
        """Warn that ``others`` hard links share the change made in the file itself."""
        if others:
            warn(
                f"{self.path} has {others} other hard link(s): they are this same file, so they "
                f"now hold {what} too (opening it under another name needs --rebind, or "
                "rebind=True in Python)"
            )


class FileTarget(LockedFile[Snapshot]):
    """The session file at ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.name = session_name(path)
        workdir = "" if path.parent == Path() else f", workdir={str(path.parent)!r}"
        self.storage_code = f"FileStorage({self.name!r}{workdir})"

    async def snapshot(self) -> Snapshot:
        return Snapshot(self.path)

    async def seal_peers(self, unlock: dict[str, Any], *, rebind: bool) -> None:
        """See :meth:`Target.seal_peers`: in the file itself, as :meth:`change_in_place`
        seals the cache with the auth key (so the plain values are not left in the blocks of
        a replaced file)."""
        edit = editing(unlocking(unlock, rebind=rebind), sealing_cache(unlock))
        await self._in_place(edit, "the sealed peer cache")

    async def change(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change`; call it inside :meth:`locked`. The plaintext auth key
        must not remain anywhere in the bytes of a result that keeps it encrypted. The new
        file replaces the old one, so other hard links to it keep the old version."""
        outcomes: list[Outcome] = []

        async def step(temp: Path) -> None:
            async with edit(SessionFile(temp, self.name)) as outcome:
                outcomes.append(outcome)
            if not outcome.sealed and outcome.peer_index is not None:
                # Decrypted from a sealed cache: its tokens find nothing without the index key.
                await asyncio.to_thread(clear_cached_tokens, temp)

        async def verify(temp: Path) -> None:
            await check_same_key(temp, self.name, outcomes[0].key, **outcomes[0].check)

        def forbidden() -> bytes | None:
            return outcomes[0].key if outcomes[0].sealed else None

        others = self._other_links()
        await rewrite(self.path, step, verify, forbidden=forbidden)
        self._replaced_links(others)
        return outcomes[0]

    async def change_in_place(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change_in_place`; call it inside :meth:`locked`.

        The edit runs on a copy of the session in memory (a :class:`Snapshot`: nothing of it
        reaches the disk, so no copy of the plaintext key is left in a removed file), and any
        failure there leaves the file exactly as it was. Only then is the auth key field the
        edit left written into the file itself by :func:`~vault.cli.rewrite.overwrite_auth_key`
        (with the cached usernames and phone numbers sealed under the outcome's peer index, in
        the same transaction; a crash leaves the old or the new session), and the result
        checked: the same auth key, and the plaintext key nowhere in the file if it is now
        sealed."""
        return await self._in_place(edit, "the encrypted session")

    async def _in_place(self, edit: Edit, what: str) -> Outcome:
        others = self._other_links()
        copy = Snapshot(self.path, self.name)
        async with edit(copy) as outcome:
            field = await copy.auth_key()
            # Inside the edit: the peer index is wiped when its vault closes.
            await overwrite_auth_key(self.path, field, outcome.peer_index)
        stored = await read_auth_key(Snapshot(self.path, self.name), **outcome.check)
        if outcome.key != (stored or b""):
            raise CliError(
                Exit.INTERNAL,
                f"{self.path} did not give back the same auth key after the change; restore it "
                "from a backup (please report this)",
            )
        if outcome.sealed and scan_for(self.path, outcome.key):
            raise CliError(
                Exit.INTERNAL,
                f"the plaintext auth key was still found in {self.path} after encrypting it "
                "(please report this)",
            )
        self._shared_links(others, what)
        return outcome

    async def create(self, edit: Edit) -> Outcome:
        """Create the file, which must not exist yet, from what ``edit`` writes into an empty
        session, checked as :meth:`change` checks a result; nothing is left on failure."""
        temp = temp_path(self.path)
        try:
            async with edit(SessionFile(temp, self.name)) as outcome:
                pass
            await check_same_key(temp, self.name, outcome.key, **outcome.check)
            if outcome.sealed and scan_for(temp, outcome.key):
                raise CliError(
                    Exit.INTERNAL,
                    "the plaintext auth key reached the new file; nothing was written "
                    "(please report this)",
                )
            link_new(temp, self.path)
        finally:
            remove_with_side_files(temp)
        return outcome

    async def _place(self, snapshot: Snapshot) -> dict[str, Any]:
        version = snapshot.source_version
        assert version is not None  # an open snapshot knows it
        return {
            "path": str(self.path),
            "session_name": self.name,
            "layout": "pyrogram",
            "schema_version": version,
            "written_by": SCHEMA_NAMES.get(version, "unknown"),
            **client_facts(version),
        }

    async def _counts(self, snapshot: Snapshot) -> dict[str, int]:
        conn = snapshot.conn
        assert conn is not None
        counts = {}
        for key, table in CACHE_TABLES.items():
            rows = await conn.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
            counts[key] = int(next(iter(rows))[0])
        return counts

    def head(self, facts: dict[str, Any]) -> list[str]:
        return [
            f"path:           {facts['path']}",
            f"session name:   {facts['session_name']}",
            f"schema:         version {facts['schema_version']} ({facts['written_by']})",
            *client_lines(facts),
        ]
