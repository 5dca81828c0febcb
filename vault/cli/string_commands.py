"""Commands that read a session string from standard input: import, string encrypt/decrypt.

Strings are read from stdin only (hidden when typed at a terminal), never from arguments."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..crypto import decrypt_session_string, encrypt_session_string
from ..crypto.strings import is_encrypted_string
from ..errors import InvalidSessionString
from ..session_string import SessionData, decode_session_string, encode_session_string
from .atomic import link_new, remove_with_side_files, scan_for, temp_path
from .credentials import Credentials
from .exits import CliError, Exit
from .read_commands import PLAIN_WARNING, warn
from .secret_input import has_terminal, read_stdin_secret
from .sessionfile import SessionFile, session_name
from .telethon_string import decode_telethon_string, looks_like_telethon
from .vaults import check_same_key, opened, opened_vault

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
    name = session_name(out)
    temp = temp_path(out)
    try:
        if args.plain:
            if is_encrypted_string(text):
                text = decrypt_session_string(text, **creds.unlock_kwargs())
            await _write_plain(temp, name, _plain_data(text, args))
        elif is_encrypted_string(text):
            await _write_encrypted(temp, name, creds.unlock_kwargs(), session_string=text)
        else:
            session_string = encode_session_string(_plain_data(text, args))
            new = creds.new_kwargs()
            await _write_encrypted(
                temp, name, new, session_string=session_string, encrypt_plaintext=True
            )
        link_new(temp, out)
    finally:
        remove_with_side_files(temp)
    if args.plain:
        warn(f"{out} stores the auth key in the clear; protect it with `session-vault encrypt`")
        return f"imported into UNENCRYPTED session file {out}"
    return f"imported into encrypted session file {out}"


async def _write_plain(temp: Path, name: str, data: SessionData) -> None:
    async with opened(SessionFile(temp, name)) as storage:
        await storage.load_session_data(data)
    await check_same_key(temp, name, data.auth_key)


async def _write_encrypted(temp: Path, name: str, keys: dict[str, Any], **extra: Any) -> None:
    """Create the encrypted file ``temp`` (``extra``: the string to load) and check that
    ``keys`` open it and that the plaintext auth key is nowhere in its bytes."""
    async with opened_vault(SessionFile(temp, name), **keys, **extra) as storage:
        key = await storage.auth_key()
    assert key is not None
    await check_same_key(temp, name, key, **keys)
    if scan_for(temp, key):
        raise CliError(
            Exit.INTERNAL,
            "the plaintext auth key reached the new file; nothing was written (please report this)",
        )


def _plain_data(text: str, args: argparse.Namespace) -> SessionData:
    """Session data from a plain Pyrogram or a Telethon string, completed from the options."""
    if looks_like_telethon(text):
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
