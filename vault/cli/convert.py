"""``convert``: a Telethon session file into a Pyrogram-family one, or the reverse.

The source is read as a session string: an encrypted one (``vault1:``, made by the source's
own vault, so the destination keeps every key slot of the source) unless the source is
plaintext or ``--plain`` asks for a plaintext destination. The destination is created from
that string exactly as ``import`` creates a file, checked, and linked into place only if no
file has its name. The source is never changed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..session_string import SessionData, encode_session_string
from ..storage.datacenters import public_address
from .commands import warn
from .credentials import Credentials
from .exits import CliError, Exit
from .file_target import FileTarget
from .string_commands import ask_int, writing_plain
from .target import Target
from .telethon_target import TelethonTarget, is_telethon_file
from .vaults import Edit, editing, migrating, opened, opened_vault, unchanged, unlocking

__all__ = ["convert"]


async def convert(args: argparse.Namespace) -> str:
    """Create ``args.dest`` in the layout ``args.to`` from the session file ``args.src``."""
    src, dest = Path(args.src), Path(args.dest)
    if dest.exists():
        raise CliError(Exit.REFUSED, f"{dest} already exists; choose another path or move it away")
    if not dest.parent.is_dir():
        raise CliError(Exit.NOT_FOUND, f"the directory {dest.parent} does not exist")
    if not src.is_file():
        raise CliError(Exit.NOT_FOUND, f"{src} does not exist; check the path")
    telethon_source = is_telethon_file(src)
    if telethon_source == (args.to == "telethon"):
        layout = "a Telethon" if telethon_source else "a Pyrogram-family"
        raise CliError(Exit.USAGE, f"{src} is already {layout} session file; nothing to convert")
    source: Target[Any]
    if telethon_source:
        source = TelethonTarget(src, extra=_pyrogram_extra(args))
    else:
        source = FileTarget(src)
    edit, data = await _edit_from(source, args)
    if args.to == "telethon":
        address = public_address(data.dc_id, data.test_mode)
        if address is None:
            raise CliError(Exit.BAD_DATA, f"{src} names data center {data.dc_id}, unknown")
        outcome = await TelethonTarget(dest).create(edit, data.dc_id, *address)
    else:
        outcome = await FileTarget(dest).create(edit)
    if not outcome.sealed:
        warn(f"{dest} stores the auth key in the clear; protect it with `session-vault encrypt`")
    state = "encrypted" if outcome.sealed else "UNENCRYPTED"
    return f"converted {src} into {state} {args.to} session file {dest}"


def _pyrogram_extra(args: argparse.Namespace) -> dict[str, Any]:
    """What a Pyrogram-family session holds and a Telethon file lacks."""
    return {
        "api_id": args.api_id if args.api_id is not None else ask_int("api id", "file"),
        "user_id": args.user_id if args.user_id is not None else ask_int("user id", "file"),
        "is_bot": args.bot,
        "test_mode": args.test_mode,
    }


async def _edit_from(source: Target[Any], args: argparse.Namespace) -> tuple[Edit, SessionData]:
    """The edit that writes the source's session into the new destination, and the
    session's data (its auth key stays in memory only)."""
    view = await source.view()
    if not view.has_auth_key:
        raise CliError(Exit.REFUSED, f"{source} holds no auth key (never logged in)")
    # A prompt asks for the source's passphrase, or for the destination's new one.
    creds = Credentials(args, label="Passphrase" if view.encrypted else "New passphrase")
    plain = args.plain
    snapshot = await source.snapshot()
    if view.encrypted:
        unlock = creds.unlock_kwargs()
        async with opened_vault(snapshot, **unlock) as storage:
            data = await storage.session_data()
            if plain:
                return writing_plain(data), data
            text = await storage.export_session_string()
        return editing(unlocking(unlock, session_string=text), unchanged(unlock)), data
    async with opened(snapshot):
        data = await snapshot.session_data()
    if plain:
        return writing_plain(data), data
    new = creds.new_kwargs()
    return editing(migrating(new, session_string=encode_session_string(data)), unchanged(new)), data
