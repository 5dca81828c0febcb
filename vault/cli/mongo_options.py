"""The command-line options that name a session in MongoDB, and errors that never show the
connection string's password. Imports no MongoDB driver."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

from ..errors import VaultError
from .exits import CliError, Exit, exit_code

__all__ = ["add_mongo_options", "read_uri", "redact", "requested", "translated"]


def add_mongo_options(parser: argparse.ArgumentParser, *, all_sessions: bool = False) -> None:
    """``--mongo-uri``/``--mongo-uri-env``, ``--name``, ``--database`` (and ``--all``)."""
    group = parser.add_argument_group("a session in MongoDB instead of a PATH")
    uri = group.add_mutually_exclusive_group()
    uri.add_argument("--mongo-uri", metavar="URI", help="the MongoDB connection string")
    uri.add_argument(
        "--mongo-uri-env",
        metavar="NAME",
        help="read the connection string from variable NAME (keeps its password out of `ps`)",
    )
    group.add_argument("--name", metavar="NAME", help="the session name")
    group.add_argument("--database", metavar="DB", help="the shared database holding many sessions")
    if all_sessions:
        group.add_argument(
            "--all", action="store_true", help="every session of the --database (shared layout)"
        )


def requested(args: argparse.Namespace, paths: object) -> bool:
    """Whether the options name a MongoDB session (rather than the file ``paths``); a usage
    error for an inconsistent mix."""
    every = bool(getattr(args, "all", False))
    if args.mongo_uri is None and args.mongo_uri_env is None:
        if args.name is not None or args.database is not None or every:
            raise CliError(Exit.USAGE, "--name, --database and --all need --mongo-uri")
        if not paths:
            raise CliError(
                Exit.USAGE,
                "name a session file (PATH), or a MongoDB session with --mongo-uri URI --name NAME",
            )
        return False
    if paths:
        raise CliError(Exit.USAGE, "give either session file paths or --mongo-uri, not both")
    if every and (args.database is None or args.name is not None):
        raise CliError(
            Exit.USAGE, "--all walks a shared database: give --database DB and no --name"
        )
    if not every and args.name is None:
        raise CliError(
            Exit.USAGE, "name the session with --name NAME (plus --database DB if shared)"
        )
    return True


def read_uri(args: argparse.Namespace) -> str:
    """The connection string from ``--mongo-uri`` or ``--mongo-uri-env``."""
    if args.mongo_uri is not None:
        return str(args.mongo_uri)
    value = os.environ.get(args.mongo_uri_env)
    if not value:
        raise CliError(Exit.USAGE, f"environment variable {args.mongo_uri_env} is not set")
    return value


def _secrets(uri: str) -> list[str]:
    """The URI's password (as written and decoded) and the URI itself, longest first."""
    try:
        userinfo = urlsplit(uri).netloc.rpartition("@")[0]
    except ValueError:
        userinfo = uri.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    found = {uri, userinfo, password, unquote(password)} - {""}
    return sorted(found, key=len, reverse=True)


def redact(text: str, uri: str) -> str:
    """``text`` with the URI's credentials replaced by ``***``."""
    for secret in _secrets(uri):
        text = text.replace(secret, "***")
    return text


def _message(error: Exception) -> tuple[Exit, str]:
    name = type(error).__name__
    text = str(error)
    if name == "ServerSelectionTimeoutError":
        reason = text.partition(" (configured timeouts")[0].partition(", Timeout:")[0]
        return Exit.FAILURE, (
            f"cannot reach the MongoDB server ({reason}); check the URI and that the server runs"
        )
    if name in ("InvalidURI", "ConfigurationError"):
        return Exit.USAGE, f"bad MongoDB connection string: {text}"
    if getattr(error, "code", None) == 18:  # AuthenticationFailed
        return Exit.FAILURE, "the MongoDB server refused the user name or password of the URI"
    return Exit.FAILURE, f"MongoDB {name}: {text}"


@contextlib.contextmanager
def translated(uri: str) -> Iterator[None]:
    """Turn driver errors into one-line CLI errors, and keep the URI's password out of every
    error that leaves (chaining no cause, which could hold it)."""
    try:
        yield
    except (CliError, VaultError):
        raise
    except Exception as error:
        module = type(error).__module__
        if module.startswith(("pymongo", "bson")):
            code, text = _message(error)
        else:
            code, text = exit_code(error), f"unexpected {type(error).__name__}: {error}"
            if redact(text, uri) == text:
                raise
        raise CliError(code, redact(text, uri)) from None
