"""The advisory lock that keeps two clients off one session file."""

from __future__ import annotations

from pathlib import Path

from ..errors import SessionInUseError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; the file is then not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["lock_exclusive"]


def lock_exclusive(fd: int, path: Path) -> None:
    """Take an exclusive ``flock`` on ``fd`` (an open descriptor of ``path``) without waiting.

    The lock lasts until the descriptor is closed. Raises :class:`SessionInUseError` if a
    :class:`~vault.storage.FileStorage` or the ``session-vault`` command holds it.
    """
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SessionInUseError(
            f"{path} is already open in another process or storage object; stop the other "
            "client first, then try again (two clients on one auth key make Telegram revoke it)"
        ) from None
