"""What ``info`` says about the Pyrogram-family client installed next to vault: the layout
new files get (:func:`vault.storage.installed.default_layout`) and whether that client's own
storage reads the file's layout."""

from __future__ import annotations

from typing import Any

from ..storage.installed import default_layout, installed_client

__all__ = ["client_facts", "client_lines"]

#: The schema version of each layout.
_LAYOUT_VERSIONS = {"pyrofork": 4, "kurigram": 7}


def client_facts(version: int) -> dict[str, Any]:
    """``installed_client`` (``None``: none), ``new_file_layout`` and whether the installed
    client's own storage reads a file of schema ``version`` (``None``: no client here)."""
    client = installed_client()
    layout = default_layout()
    kurigram_file = version == _LAYOUT_VERSIONS["kurigram"]
    readable = None if client is None else kurigram_file == (layout == "kurigram")
    return {"installed_client": client, "new_file_layout": layout, "client_reads_it": readable}


def client_lines(facts: dict[str, Any]) -> list[str]:
    """The ``info`` lines for :func:`client_facts`."""
    client = facts["installed_client"]
    layout = facts["new_file_layout"]
    where = f"{client} is installed" if client else "no Pyrogram-family client is installed"
    lines = [f"client here:    {where}; new files get the {layout} layout"]
    if facts["client_reads_it"] is False:
        lines.append(
            f"                {client}'s own storage does not read this file's layout; open it "
            "through vault (EncryptedStorage(FileStorage(...)) or FileStorage(...))"
        )
    return lines
