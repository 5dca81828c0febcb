"""A session file as a :class:`~vault.cli.target.Target`.

A change never touches the file itself before it is finished: :func:`~vault.cli.rewrite.rewrite`
builds a verified copy next to it and atomically renames it over the file, while the session's
lock keeps running clients out. A new file (``import``) is built the same way and linked into
place only if no file has that name.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from . import atomic
from .atomic import link_new, remove_with_side_files, scan_for, temp_path
from .exits import CliError, Exit
from .installed_client import client_facts, client_lines
from .rewrite import rewrite
from .sessionfile import SCHEMA_NAMES, SessionFile, Snapshot, session_name
from .target import CACHE_TABLES, Target
from .vaults import Edit, Outcome, check_same_key

__all__ = ["FileTarget"]


class FileTarget(Target[Snapshot]):
    """The session file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = session_name(path)
        self.label = self.cli_args = str(path)

    async def snapshot(self) -> Snapshot:
        return Snapshot(self.path)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return atomic.locked(self.path)

    async def change(self, edit: Edit) -> Outcome:
        """See :meth:`Target.change`; call it inside :meth:`locked`. The plaintext auth key
        must not remain anywhere in the bytes of a result that keeps it encrypted."""
        outcomes: list[Outcome] = []

        async def step(temp: Path) -> None:
            async with edit(SessionFile(temp, self.name)) as outcome:
                outcomes.append(outcome)

        async def verify(temp: Path) -> None:
            await check_same_key(temp, self.name, outcomes[0].key, **outcomes[0].check)

        def forbidden() -> bytes | None:
            return outcomes[0].key if outcomes[0].sealed else None

        await rewrite(self.path, step, verify, forbidden=forbidden)
        return outcomes[0]

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
