"""Commands that read a session string from standard input: import, string encrypt/decrypt.

Strings are read from stdin only (hidden when typed at a terminal), never from arguments."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ..crypto import decrypt_session_string, encrypt_session_string
from ..crypto.strings import is_encrypted_string
from ..errors import InvalidSessionString
from ..session_string import SessionData, decode_session_string, encode_session_string
from ..storage import Storage
from ..telethon.strings import decode_telethon_string, looks_like_telethon_string
from .commands import PLAIN_WARNING, warn
from .credentials import Credentials
from .exits import CliError, Exit
from .file_target import FileTarget
from .secret_input import has_terminal, read_stdin_secret
from .vaults import Edit, Outcome, editing, migrating, opened, unchanged, unlocking

__all__ = ["import_session", "string_decrypt", "string_encrypt"]


async def import_session(out: Path, creds: Credentials, args: argparse.Namespace) -> str:
    """Create the session file ``out`` from a plain, encrypted or Telethon string on stdin.

    An encrypted string keeps its key slots (unlock it with its passphrase or key); other
    strings get the slots the credential options name, unless ``--plain``.
    """
    if out.exists():
        raise CliError(Exit.REFUSED, f"{out} already exists; choose another path or move it away")
    if not out.parent.is_dir():
        raise CliError(Exit.NOT_FOUND, f"the directory {out.parent} does not exist")
    text = read_stdin_secret("session string")
    target = FileTarget(out)
    if is_encrypted_string(text):
        # The string's own passphrase opens it: ask for that one, not for a new one.
        creds.passphrase.label = "Passphrase of the encrypted string"
    if args.plain:
        if is_encrypted_string(text):
            text = decrypt_session_string(text, **creds.unlock_kwargs())
        await target.create(_writing_plain(_plain_data(text, args)))
    elif is_encrypted_string(text):
        unlock = creds.unlock_kwargs()
        await target.create(editing(unlocking(unlock, session_string=text), unchanged(unlock)))
    else:
        session_string = encode_session_string(_plain_data(text, args))
        new = creds.new_kwargs()
        opener = migrating(new, session_string=session_string)
        await target.create(editing(opener, unchanged(new)))
    if args.plain:
        warn(f"{out} stores the auth key in the clear; protect it with `session-vault encrypt`")
        return f"imported into UNENCRYPTED session file {out}"
    return f"imported into encrypted session file {out}"


def _writing_plain(data: SessionData) -> Edit:
    """The edit that stores ``data`` in the clear."""

    @asynccontextmanager
    async def edit(inner: Storage) -> AsyncIterator[Outcome]:
        async with opened(inner) as storage:
            await storage.load_session_data(data)
        yield Outcome(data.auth_key, {})

    return edit


def _plain_data(text: str, args: argparse.Namespace) -> SessionData:
    """Session data from a plain Pyrogram or a Telethon string, completed from the options."""
    if looks_like_telethon_string(text):
        telethon = decode_telethon_string(text)
        return SessionData(
            dc_id=telethon.dc_id,
            api_id=args.api_id if args.api_id is not None else _ask_int("api id"),
            test_mode=args.test_mode,
            auth_key=telethon.auth_key,
            user_id=args.user_id if args.user_id is not None else _ask_int("user id"),
            is_bot=args.bot,
        )
    data = decode_session_string(text)
    if data.api_id is None and args.api_id is not None:
        data = dataclasses.replace(data, api_id=args.api_id)
    return data


def _ask_int(what: str) -> int:
    """Ask the terminal for a number a Telethon string lacks."""
    option = "--" + what.replace(" ", "-")
    if not has_terminal():
        raise CliError(Exit.USAGE, f"a Telethon string carries no {what}; pass it with {option} N")
    with open("/dev/tty", "w", encoding="utf-8") as out, open("/dev/tty", encoding="utf-8") as tty:
        out.write(f"The Telethon string has no {what}; enter it: ")
        out.flush()
        answer = tty.readline().strip()
    try:
        return int(answer)
    except ValueError:
        raise CliError(Exit.USAGE, f"the {what} must be a whole number") from None


def string_encrypt(creds: Credentials) -> str:
    """Encrypt a plain session string from stdin."""
    text = read_stdin_secret("session string")
    if is_encrypted_string(text):
        raise CliError(Exit.REFUSED, "the string is already encrypted; nothing to do")
    if creds.keyring is not False:
        raise CliError(
            Exit.USAGE,
            "an encrypted session string opens with a passphrase or a raw key, "
            "not the OS keyring; drop --keyring",
        )
    decode_session_string(text)  # report a bad string before asking for a passphrase
    return encrypt_session_string(text, **creds.new_kwargs())


def string_decrypt(creds: Credentials) -> str:
    """Decrypt an encrypted session string from stdin (the result goes to stdout)."""
    text = read_stdin_secret("encrypted session string")
    if not is_encrypted_string(text):
        raise InvalidSessionString(
            "the string is not an encrypted session-vault string (no 'vault1:' prefix)"
        )
    plain = decrypt_session_string(text, **creds.unlock_kwargs())
    warn(PLAIN_WARNING)
    return plain
