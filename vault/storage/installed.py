"""Which Pyrogram-family client is installed, and the session-file layout it reads.

Kurigram and Irenogram (both installed as the ``pyrogram`` package) create their own files in
schema version 7 and refuse a file in Pyrofork's layout ("table update_state already exists");
Pyrogram and Pyrofork read version 4. A new :class:`~vault.storage.FileStorage` therefore
defaults to the layout of the client installed next to vault.
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, distribution

from .schema import LayoutName

__all__ = ["default_layout", "installed_client"]

#: Distributions (lower case) whose ``pyrogram`` package writes Kurigram's layout.
_KURIGRAM_LAYOUT = frozenset({"kurigram", "irenogram"})
#: The distributions that install the ``pyrogram`` package, Kurigram's layout first. Looked
#: up one by one: scanning every installed distribution for its packages takes a second.
_PYROGRAM_PROVIDERS = ("kurigram", "irenogram", "pyrofork", "pyrogram")


@functools.cache
def installed_client() -> str | None:
    """The distribution that provides the ``pyrogram`` package here (lower case, e.g.
    ``"kurigram"``), or ``None`` if none is installed."""
    for name in _PYROGRAM_PROVIDERS:
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        return name
    return None


def default_layout() -> LayoutName:
    """``"kurigram"`` when Kurigram or Irenogram is installed, else ``"pyrofork"``."""
    return "kurigram" if installed_client() in _KURIGRAM_LAYOUT else "pyrofork"
