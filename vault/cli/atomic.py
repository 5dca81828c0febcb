"""Replacing a session file so that a crash at any moment leaves the old file or the new one.

The new file is built as a hidden temporary file next to the old one (same directory, so same
filesystem), flushed to disk, checked, and then renamed over the old one with
:func:`os.replace`, which is atomic; the directory is flushed afterwards so the rename itself
survives a power cut. Temporaries left by a killed process are removed on the next run.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import SessionInUseError
from ..storage.filelock import lock_exclusive
from .exits import CliError, Exit

__all__ = [
    "SIDE_SUFFIXES",
    "check_no_side_files",
    "fsync_dir",
    "fsync_file",
    "link_new",
    "locked",
    "remove_stale_temps",
    "remove_with_side_files",
    "replace",
    "scan_for",
    "temp_path",
]

#: SQLite's companion files, which can hold copies of database pages.
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
_TEMP_MARK = ".vault-tmp-"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int]:
    """Hold the same exclusive ``flock`` that :class:`~vault.storage.FileStorage` takes while
    a session is open, so a running client and this command never use the file together;
    yields the locked descriptor. A symbolic link is refused (see :func:`_open_no_link`), a
    file that another process has open (a client without vault's lock, e.g. the client's own
    ``FileStorage``) raises :class:`~vault.errors.SessionInUseError`, and a file others can
    read is made owner-only first."""
    fd = _open_no_link(path)
    try:
        lock_exclusive(fd, path)
        _refuse_other_openers(fd, path)
        mode = os.fstat(fd).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.fchmod(fd, stat.S_IRUSR | stat.S_IWUSR)
        yield fd
    finally:
        os.close(fd)


def _open_no_link(path: Path) -> int:
    """Open ``path`` for writing; a symbolic link is refused rather than followed, since the
    envelope binds the name a client opens (the link's), and replacing or changing the target
    behind it would surprise whoever else uses that file."""
    try:
        return os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise CliError(Exit.NOT_FOUND, f"{path} does not exist; check the path") from None
    except IsADirectoryError:
        raise CliError(Exit.NOT_FOUND, f"{path} is a directory, not a session file") from None
    except PermissionError:
        raise CliError(Exit.FAILURE, f"cannot open {path} for writing: permission denied") from None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise CliError(
            Exit.REFUSED,
            f"{path} is a symbolic link (to {os.readlink(path)}); session-vault does not follow "
            "links: run it on the file itself, and point the client at that file",
        ) from None


def _refuse_other_openers(fd: int, path: Path) -> None:
    """Raise :class:`SessionInUseError` if another process has the file of ``fd`` open.

    A client that does not take vault's lock (the client's own ``FileStorage``, ``sqlite3``)
    would keep writing into the file under its feet. Linux only (``/proc``); processes this
    user may not inspect are not seen."""
    pid = _other_opener(os.fstat(fd))
    if pid is not None:
        raise SessionInUseError(
            f"{path} is open in another process (pid {pid}), such as a running client; stop "
            "it first, then run this again (changing the file under it would break it)"
        )


def _other_opener(held: os.stat_result) -> str | None:
    """The id of another process with a descriptor on the file ``held``, if any."""
    me = str(os.getpid())
    for pid in _pids():
        if pid == me:
            continue
        try:
            entries = list(os.scandir(f"/proc/{pid}/fd"))
        except OSError:  # gone, or another user's
            continue
        for entry in entries:
            try:
                found = os.stat(entry.path)
            except OSError:
                continue
            if (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino):
                return pid
    return None


def _pids() -> list[str]:
    try:
        return [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def temp_path(path: Path) -> Path:
    """A new hidden temporary name next to ``path``."""
    return path.with_name(f".{path.name}{_TEMP_MARK}{secrets.token_hex(6)}")


def remove_stale_temps(path: Path) -> None:
    """Remove temporaries (and their side files) a killed run left next to ``path``."""
    prefix = f".{path.name}{_TEMP_MARK}"
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(path.parent):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)


def remove_with_side_files(path: Path) -> None:
    """Remove ``path`` and its SQLite side files, whichever exist."""
    for suffix in ("", *SIDE_SUFFIXES):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


def fsync_file(path: Path) -> None:
    """Flush a file's (or directory's) data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a directory, so a rename or new entry in it survives a power cut."""
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
        fsync_file(directory)


def check_no_side_files(path: Path) -> None:
    """Refuse to replace a database that still has a write-ahead log or journal: another
    program has it open, and the log would be applied to the new file."""
    for suffix in ("-wal", "-journal"):
        side = Path(f"{path}{suffix}")
        if side.exists() and side.stat().st_size > 0:
            raise SessionInUseError(
                f"{path} has an active {suffix[1:]} file: another program has it open; "
                "stop it, then run this again"
            )


def replace(new: Path, path: Path) -> None:
    """Atomically put the finished file ``new`` in the place of ``path``."""
    fsync_file(new)
    check_no_side_files(path)
    os.replace(new, path)
    fsync_dir(path.parent)


def link_new(new: Path, path: Path) -> None:
    """Atomically give the finished file ``new`` the name ``path``, which must not exist."""
    fsync_file(new)
    try:
        os.link(new, path)
    except FileExistsError:
        raise CliError(
            Exit.REFUSED, f"{path} already exists; choose another path or move it away"
        ) from None
    os.remove(new)
    fsync_dir(path.parent)


def scan_for(path: Path, secret: bytes) -> bool:
    """Whether any 32-byte piece of ``secret`` appears in ``path`` or its side files."""
    pieces = [secret[i : i + 32] for i in range(0, len(secret), 32)]
    for suffix in ("", *SIDE_SUFFIXES):
        try:
            data = Path(f"{path}{suffix}").read_bytes()
        except FileNotFoundError:
            continue
        if any(piece in data for piece in pieces):
            return True
    return False
