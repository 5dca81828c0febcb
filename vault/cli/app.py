"""The ``session-vault`` argument parser, command dispatch and error reporting.

Every failure is reported as one line on stderr (``session-vault: error: ...``), or with
``--json`` in the one JSON document of the run (:mod:`vault.cli.report`), with an exit code
from :mod:`vault.cli.exits`; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from .. import __version__
from ..crypto.keyring_slot import DEFAULT_SERVICE
from . import commands as session_commands
from . import convert, string_commands
from .credentials import (
    Credentials,
    add_credential_options,
    add_kdf_options,
    add_passphrase_options,
    new_passphrase_source,
    read_new_key,
)
from .exits import CliError, Exit
from .file_target import FileTarget
from .mongo_options import add_mongo_options, requested
from .mongo_target import MongoTarget, connected
from .progress import Progress, expand_paths
from .report import PROG, Report
from .sessionfile import SUFFIX
from .target import Target
from .telethon_target import TelethonTarget, export_telethon, target_for

__all__ = ["build_parser", "main"]

_EPILOG = """\
Secrets are never taken as arguments: passphrases come from a hidden prompt,
--passphrase-env or --passphrase-file; session strings from standard input.

exit codes:
  0  ok                       5  in use (a running client holds the file)
  1  other failure            6  damaged or unknown data
  2  usage error              7  refused (not encrypted, last slot, file exists)
  3  wrong passphrase or key  8  OS keyring unavailable
  4  not found, no sessions   70 internal error, 130 interrupted

--json (with any command) prints one JSON document for the whole run.
"""

_SUB_EPILOG = f"Exit codes: see `{PROG} --help`."
#: How a JSON result names the standard input the string commands read.
STDIN = "-"

Runner = Callable[[argparse.Namespace, Report], Awaitable[None]]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format=f"{PROG}: %(levelname)s: %(message)s",
    )
    out = Report(args.command, as_json=args.json, debug=args.debug)
    try:
        asyncio.run(args.run(args, out))
    except KeyboardInterrupt:
        if not args.json:
            print(f"\n{PROG}: interrupted", file=sys.stderr)
            return Exit.INTERRUPTED
        out.failure(CliError(Exit.INTERRUPTED, "interrupted"), None)
    except Exception as error:
        out.failure(error, None)
    return out.finish()


# --- commands ------------------------------------------------------------------------------

Outcome = str | dict[str, Any]


async def _each_target(
    args: argparse.Namespace,
    out: Report,
    work: Callable[[Target[Any]], Awaitable[Outcome]],
    *,
    many: bool = True,
    progress: bool = True,
) -> None:
    """Run ``work`` on every session the arguments name: files (with ``many``, the paths,
    directories and globs of ``args.paths``; else the one ``args.path``) or MongoDB sessions
    (``--mongo-uri``); report each outcome or error."""
    paths = args.paths if many else args.path
    if requested(args, paths):
        async with connected(args) as sessions:
            found = [MongoTarget(sessions, name) for name in await sessions.names(args)]
            await _each(args, out, found, work, progress=progress)
            return
    recursive = getattr(args, "recursive", False)
    files = expand_paths(paths, recursive=recursive) if many else [paths]
    if not files:
        deeper = "" if recursive or not hasattr(args, "recursive") else "; add -r to look deeper"
        raise CliError(
            Exit.NOT_FOUND, f"no session files (*{SUFFIX}) in {', '.join(paths)}{deeper}"
        )
    await _each(args, out, [target_for(Path(p)) for p in files], work, progress=progress)


async def _each(
    args: argparse.Namespace,
    out: Report,
    targets: Sequence[Target[Any]],
    work: Callable[[Target[Any]], Awaitable[Outcome]],
    *,
    progress: bool = True,
) -> None:
    """Run ``work`` on every target; report each outcome or error."""
    shown = progress and not getattr(args, "no_progress", False) and not args.json
    bar = Progress(len(targets), enabled=shown)
    for target in targets:
        bar.start(target.label)
        try:
            outcome = await work(target)
        except Exception as error:
            bar.clear()
            out.failure(_explained(error, target), target.label, name=len(targets) > 1)
        else:
            bar.clear()
            out.success(target.label, outcome)
        bar.advance()
    bar.clear()


def _explained(error: Exception, target: Target[Any]) -> Exception:
    """``error``, or for a file in a directory this process may not write in (where a changed
    copy is made), an error that names the directory and what to do."""
    if not isinstance(target, FileTarget | TelethonTarget) or not isinstance(
        error, OSError | sqlite3.Error
    ):
        return error
    directory = target.path.parent
    if os.access(directory, os.W_OK):
        return error
    return CliError(
        Exit.FAILURE,
        f"cannot change {target.path}: its directory {directory} is not writable (the new "
        "version is written next to the file, then renamed over it); make the directory "
        f"writable (e.g. chmod u+w {directory}) or work on a copy in a writable directory",
    )


async def _encrypt(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args, label="New passphrase")
    creds.check()
    await _each_target(args, out, lambda target: session_commands.encrypt(target, creds))


async def _decrypt(args: argparse.Namespace, out: Report) -> None:
    if not args.confirm_plaintext:
        raise CliError(
            Exit.USAGE,
            "decrypting stores the auth key UNENCRYPTED: anyone who copies the file gets the "
            "account; add --confirm-plaintext if that is really what you want",
        )
    creds = Credentials(args)
    creds.check()
    await _each_target(
        args, out, lambda target: session_commands.decrypt(target, creds, rebind=args.rebind)
    )


async def _info(args: argparse.Namespace, out: Report) -> None:
    await _each_target(
        args, out, lambda target: session_commands.info(target, as_json=args.json), progress=False
    )


async def _passwd(args: argparse.Namespace, out: Report) -> None:
    new = new_passphrase_source(args)
    creds = Credentials(args)
    creds.check()
    new.check()
    await _each_target(
        args,
        out,
        lambda target: session_commands.passwd(target, creds, new, rebind=args.rebind),
        many=False,
    )


async def _add_key(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()
    if args.kind == "passphrase":
        new_passphrase_source(args).check()
    elif args.kind == "raw-key":
        read_new_key(args)  # a missing key file is reported before the session is opened
    await _each_target(
        args,
        out,
        lambda target: session_commands.add_key(target, creds, args.kind, args, rebind=args.rebind),
        many=False,
    )


async def _remove_key(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()
    await _each_target(
        args,
        out,
        lambda target: session_commands.remove_key(target, creds, args.slot, rebind=args.rebind),
        many=False,
    )


async def _seal_peers(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()
    await _each_target(
        args, out, lambda target: session_commands.seal_peers(target, creds, rebind=args.rebind)
    )


async def _export(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()

    async def work(target: Target[Any]) -> str:
        if isinstance(target, TelethonTarget):  # a Telethon file exports a Telethon string
            return await export_telethon(target, creds, plain=args.plain, rebind=args.rebind)
        return await session_commands.export(target, creds, plain=args.plain, rebind=args.rebind)

    await _each_target(args, out, work, many=False)


async def _convert(args: argparse.Namespace, out: Report) -> None:
    out.success(args.dest, await convert.convert(args))


async def _import(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args, label="New passphrase")
    creds.check()
    out.success(args.out, await string_commands.import_session(Path(args.out), creds, args))


async def _string_encrypt(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args, label="New passphrase")
    creds.check()
    out.success(STDIN, string_commands.string_encrypt(creds))


async def _string_decrypt(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()
    out.success(STDIN, string_commands.string_decrypt(creds))


async def _string_convert(args: argparse.Namespace, out: Report) -> None:
    creds = Credentials(args)
    creds.check()
    out.success(STDIN, convert.convert_string(args, creds))


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every command has ``--help``)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Encrypt Pyrogram-family and Telethon session files and strings at rest.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs on errors"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (shape: docs/cli.md)"
    )
    parser.set_defaults(debug=False, json=False)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _file_commands(commands)
    _slot_commands(commands)
    _string_commands(commands)
    return parser


def _command(
    commands: Subparsers, name: str, run: Runner, help_text: str, description: str
) -> argparse.ArgumentParser:
    """Add one command; ``--debug`` and ``--json`` are accepted after it too."""
    sub = commands.add_parser(
        name.rpartition(" ")[2],
        help=help_text,
        description=textwrap.fill(description, 79),
        epilog=_SUB_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    sub.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document for the whole run, failures included (docs/cli.md)",
    )
    sub.set_defaults(run=run, command=name)
    return sub


def _add_telethon_fields(p: argparse.ArgumentParser, source: str) -> None:
    """The options for what a Telethon ``source`` (strings, files) lacks."""
    p.add_argument("--api-id", type=int, help=f"api id (Telethon {source} lack it)")
    p.add_argument("--user-id", type=int, help=f"user id (Telethon {source} lack it)")
    p.add_argument("--bot", action="store_true", help="the Telethon session is a bot's")
    p.add_argument("--test-mode", action="store_true", help="the session is on test servers")


def _add_rebind(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rebind",
        action="store_true",
        help="open a session sealed for another name (a file copied or renamed on purpose) "
        "and seal it for its own name",
    )


def _file_commands(commands: Subparsers) -> None:
    p = _command(
        commands,
        "encrypt",
        _encrypt,
        "encrypt plaintext session files in place",
        "Encrypt plaintext session files (Pyrogram 2.x, Pyrofork, Kurigram, vault, Telethon) "
        "in place: the sealed key is checked on a copy in memory, then written over the "
        "plaintext key in the file itself (one transaction; a crash leaves the old or the new "
        "session). Symbolic links and files another process has open are refused. Files "
        "already encrypted are skipped. New key slots: a passphrase "
        "(asked twice unless --passphrase-env/--passphrase-file), plus --keyring and/or "
        "--key-file/--key-env; with only those, no passphrase slot is made.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="session files, directories, globs")
    p.add_argument("-r", "--recursive", action="store_true", help="search directories deeply")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_credential_options(p)
    add_kdf_options(p)
    add_mongo_options(p, all_sessions=True)

    p = _command(
        commands,
        "decrypt",
        _decrypt,
        "store a session's auth key unencrypted again",
        "Decrypt session files: a verified copy atomically replaces each file. Needs "
        "--confirm-plaintext.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="encrypted session files")
    p.add_argument(
        "--confirm-plaintext", action="store_true", help="yes, store the auth key unencrypted"
    )
    add_credential_options(p)
    _add_rebind(p)
    add_mongo_options(p)

    p = _command(
        commands,
        "info",
        _info,
        "describe session files (never the key)",
        "Show format, key slots (types, KDF parameters), dc, user id, is_bot and cache sizes. "
        "Needs no passphrase and never changes the file.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH")
    add_mongo_options(p)


def _slot_commands(commands: Subparsers) -> None:
    p = _command(
        commands,
        "passwd",
        _passwd,
        "change the passphrase",
        "Replace the passphrase slot that unlocks the file by one for a new passphrase. Only "
        "the data key's wrapping changes; the data is not re-encrypted.",
    )
    p.add_argument("path", nargs="?", metavar="PATH")
    add_credential_options(p)
    _add_rebind(p)
    add_passphrase_options(p, "new-", "new ")
    add_kdf_options(p)
    add_mongo_options(p)

    p = _command(
        commands,
        "add-key",
        _add_key,
        "add a passphrase, keyring or raw-key slot",
        "Add a key slot: another passphrase, a key in the OS keyring, or a 32-byte raw key. "
        "Unlock with the existing credentials (the usual options).",
    )
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("kind", choices=("passphrase", "keyring", "raw-key"), help="the new slot")
    add_credential_options(p)
    _add_rebind(p)
    add_passphrase_options(p, "new-", "new ")
    p.add_argument(
        "--service", default=DEFAULT_SERVICE, help="keyring service name (keyring slots)"
    )
    new_key = p.add_mutually_exclusive_group()
    new_key.add_argument("--new-key-file", metavar="PATH", help="the new raw key (raw-key slots)")
    new_key.add_argument("--new-key-env", metavar="NAME", help="the new raw key in variable NAME")
    add_kdf_options(p)
    add_mongo_options(p)

    p = _command(
        commands,
        "remove-key",
        _remove_key,
        "remove a key slot",
        "Remove key slot SLOT: its id as `info` shows it, which stays the same when other "
        "slots are removed (a position number is still accepted, but positions shift). "
        "Unlock with another slot; the last slot is never removed.",
    )
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("slot", metavar="SLOT", help="the slot's id as `info` shows it (e.g. p3fa9c1)")
    add_credential_options(p)
    _add_rebind(p)
    add_mongo_options(p)

    p = _command(
        commands,
        "seal-peers",
        _seal_peers,
        "seal the peer cache of encrypted sessions",
        "Replace the usernames and phone numbers cached in encrypted sessions by keyed tokens "
        "(lookups keep working; sessions made or encrypted by this version already are). A "
        "session file is sealed in place, in one transaction that also zeroes its free "
        "pages: nothing plain is left in the file, its WAL or free pages. A Telethon file's "
        "entity cache (names too) is sealed in the file itself, in one transaction, then the "
        "file rebuilt. A MongoDB session is sealed in steps: if one is stopped, lookups keep "
        "working and running the command again finishes it.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="encrypted session files")
    add_credential_options(p)
    _add_rebind(p)
    add_mongo_options(p)


def _string_commands(commands: Subparsers) -> None:
    p = _command(
        commands,
        "export",
        _export,
        "print the session as an encrypted session string",
        "Print the session as an encrypted session string (vault1:...), which opens with "
        "the same key slots; for a plaintext file, the options name the new string's "
        "passphrase or key. --plain prints the plain Pyrogram string instead (dangerous).",
    )
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("--plain", action="store_true", help="print the PLAIN session string")
    add_credential_options(p)
    _add_rebind(p)
    add_kdf_options(p)
    add_mongo_options(p)

    p = _command(
        commands,
        "import",
        _import,
        "create a session file from a session string on stdin",
        "Read a plain Pyrogram, encrypted (vault1:) or Telethon StringSession string from "
        "standard input and create a new session file. An encrypted string keeps its key "
        "slots; other strings get the slots the options name (a passphrase by default).",
    )
    p.add_argument("--out", required=True, metavar="PATH", help="the session file to create")
    p.add_argument("--plain", action="store_true", help="write an UNENCRYPTED file")
    _add_telethon_fields(p, "strings")
    add_credential_options(p)
    add_kdf_options(p)

    p = _command(
        commands,
        "convert",
        _convert,
        "convert a Telethon session file into a Pyrogram-family one, or the reverse",
        "Create DEST, a new session file in the layout --to names, from the session file "
        "SRC (Telethon or Pyrogram family), which is not changed. An encrypted SRC gives an "
        "encrypted DEST with the same key slots (unlock it with the usual options); a "
        "plaintext SRC gives one with the slots the options name. --plain writes an "
        "UNENCRYPTED DEST. A Telethon file has no api id and user id: give them with "
        "--api-id and --user-id (asked for at a terminal). Needs Telethon for --to telethon.",
    )
    p.add_argument("src", metavar="SRC", help="the session file to read")
    p.add_argument("dest", metavar="DEST", help="the session file to create")
    p.add_argument("--to", required=True, choices=("pyrogram", "telethon"), help="DEST layout")
    p.add_argument("--plain", action="store_true", help="write an UNENCRYPTED file")
    _add_telethon_fields(p, "files")
    add_credential_options(p)
    add_kdf_options(p)
    _add_rebind(p)

    p = _command(commands, "string", _no_subcommand, "encrypt or decrypt a session string", "")
    strings = p.add_subparsers(title="string commands", metavar="ACTION", required=True)
    s = _command(
        strings,
        "string encrypt",
        _string_encrypt,
        "encrypt a plain session string from stdin",
        "Read a plain Pyrogram session string from stdin and print it encrypted.",
    )
    add_credential_options(s)
    add_kdf_options(s)
    s = _command(
        strings,
        "string decrypt",
        _string_decrypt,
        "decrypt an encrypted session string from stdin",
        "Read an encrypted session string from stdin and print the plain one.",
    )
    add_credential_options(s)
    s = _command(
        strings,
        "string convert",
        _string_convert,
        "convert a session string from stdin between Telethon and Pyrogram family",
        "Read a session string from stdin and print it in the format --to names: a "
        "Pyrogram-family string (vault1: when encrypted) from a Telethon one (vault1-telethon: "
        "when encrypted), or the reverse. An encrypted string gives an encrypted one with the "
        "same key slots (unlock it with the usual options); a plain one gives a plain one. A "
        "Telethon string has no api id and user id: give them with --api-id and --user-id "
        "(asked for at a terminal).",
    )
    s.add_argument("--to", required=True, choices=("pyrogram", "telethon"), help="the format")
    _add_telethon_fields(s, "strings")
    add_credential_options(s)


async def _no_subcommand(args: argparse.Namespace, out: Report) -> None:  # pragma: no cover
    raise CliError(Exit.USAGE, "name a string command")  # argparse stops before
