"""FileStorage: a session in ``<workdir>/<name>.session``, as every Pyrogram-family client reads."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from pathlib import Path

from ..errors import StorageError
from ._database import Database
from .filelock import lock_exclusive
from .installed import default_layout
from .schema import LayoutName
from .sqlite import SQLiteStorage

__all__ = ["FileStorage"]

log = logging.getLogger(__name__)

_SIDE_FILES = ("-wal", "-shm", "-journal")


def _use_wal(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode = WAL").fetchall()
    conn.execute("PRAGMA synchronous = NORMAL")
    # A write-ahead log that a big update grew is cut back to nothing when it next restarts
    # (after a checkpoint) rather than kept at its largest, so close() has a small one to
    # check point and remove (a 100k-peer write leaves about 8 MB).
    conn.execute("PRAGMA journal_size_limit = 0").fetchall()


class FileStorage(SQLiteStorage):
    """A session in an SQLite file, ``<workdir>/<name>.session`` (the default storage).

    The file is the same format Pyrogram 2.x and Pyrofork write, and older files are migrated
    in place when opened. New files are created readable by their owner only (mode 0600), a
    work directory vault creates gets mode 0700, and an existing session file that others can
    read is tightened to 0600 when opened.

    ``name`` is a session name (``FileStorage("account", workdir="sessions")`` is
    ``sessions/account.session``) or a path: one ending in ``.session`` names that file, and
    directories in it are taken relative to ``workdir`` (``FileStorage("/srv/bot.session")``
    is ``/srv/bot.session``, session name ``"bot"``). The session name, which the encryption
    binds, is always the file name without ``.session``.

    A new file is created in the layout of the Pyrogram-family client installed, so that
    client's own storage opens it too: Kurigram's and Irenogram's (schema version 7) when
    one of them provides the ``pyrogram`` package, else Pyrofork's (version 4, which Pyrogram
    2.x also reads). ``layout="kurigram"`` or ``layout="pyrofork"`` chooses one explicitly; an
    existing file always keeps its layout.

    While open, the file is locked: a second process (or a second storage object) opening the
    same session gets :class:`~vault.errors.SessionInUseError`, because two clients sharing one
    auth key make Telegram revoke it.
    """

    FILE_EXTENSION = ".session"

    def __init__(
        self,
        name: str,
        workdir: str | os.PathLike[str] = ".",
        *,
        layout: LayoutName | None = None,
    ) -> None:
        where = Path(name)
        stem = where.name
        if stem.endswith(self.FILE_EXTENSION) and stem != self.FILE_EXTENSION:
            stem = stem[: -len(self.FILE_EXTENSION)]
        super().__init__(stem, layout=default_layout() if layout is None else layout)
        self.workdir = Path(workdir) / where.parent
        self.database = self.workdir / (stem + self.FILE_EXTENSION)
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, database={str(self.database)!r})"

    async def open(self) -> None:
        """Open the session file, creating it (mode 0600) or migrating it as needed.

        Raises :class:`~vault.errors.SessionInUseError` if the file is open elsewhere and
        :class:`~vault.errors.SchemaError` if it is not a Pyrogram-family session file.
        """
        if not self.workdir.is_dir():
            # mkdir(parents=True) would give the missing parents default permissions.
            for directory in reversed([self.workdir, *self.workdir.parents]):
                if not directory.is_dir():
                    directory.mkdir(mode=0o700, exist_ok=True)
        self._lock_fd = self._lock()
        try:
            # Writes wait for the disk: they run on the database's own worker thread, each
            # write transaction one hand-over.
            database = self.conn = Database.connect(self.database, threaded=True)
            await self.create()
            # After create(): a file that is not a session must be left exactly as it was.
            await database.run(_use_wal)
            # Point reads take microseconds: they run on the caller's thread through a second
            # connection, which WAL lets read while the first one writes.
            reader = sqlite3.connect(self.database, check_same_thread=False)
            self._use_reader(reader, concurrent=True)
        except BaseException:
            await self._abandon()
            self._unlock()
            raise

    def _lock(self) -> int:
        """Create the file owner-only if it is new, tighten it if others can read it, lock it."""
        try:
            fd = os.open(self.database, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError:
            raise StorageError(
                f"cannot open {self.database}: permission denied; check the file's owner and "
                "mode, or pass another workdir"
            ) from None
        try:
            mode = os.fstat(fd).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
                log.info("tightened permissions of %s to 0600", self.database)
            lock_exclusive(fd, self.database)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    async def close(self) -> None:
        await super().close()
        self._unlock()

    async def delete(self) -> None:
        """Close the storage if it is open and remove the session file and its side files."""
        await self.close()
        for suffix in ("", *_SIDE_FILES):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{self.database}{suffix}")
