"""Where the command line gets secrets: a no-echo prompt on the terminal, an environment
variable or a file. Never a command-line argument: those end up in shell history and ``ps``.

Passphrase files hold the passphrase as UTF-8 text; one trailing newline is ignored. Raw keys
(32 bytes) are read from a file holding the 32 bytes themselves, or 64 hex digits, or base64
text; an environment variable holds hex or base64.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from ..crypto.aead import KEY_SIZE
from .exits import CliError, Exit

__all__ = [
    "ask_yes_no",
    "decode_key",
    "has_terminal",
    "prompt_secret",
    "read_key_env",
    "read_key_file",
    "read_passphrase_env",
    "read_passphrase_file",
    "read_stdin_secret",
]

_NO_TERMINAL = "no terminal to ask on (standard input is not interactive)"


def has_terminal() -> bool:
    """Whether this process has a controlling terminal to prompt on."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def prompt_secret(prompt: str, *, hint: str) -> str:
    """Read a line from the terminal without echo; ``hint`` says what to use when there is no
    terminal (for example ``"use --passphrase-env NAME or --passphrase-file PATH"``)."""
    if not has_terminal():
        raise CliError(Exit.USAGE, f"{_NO_TERMINAL}; {hint}")
    try:
        with _interruptible():
            return getpass.getpass(prompt)
    except EOFError:
        raise CliError(Exit.USAGE, "no input was given at the prompt") from None


def ask_yes_no(question: str) -> bool:
    """Ask ``question`` on the terminal; only an answer starting with ``y`` is a yes."""
    if not has_terminal():
        return False
    with (
        _interruptible(),
        open("/dev/tty", "w", encoding="utf-8") as out,
        open("/dev/tty", encoding="utf-8") as tty,
    ):
        out.write(f"{question} [y/N] ")
        out.flush()
        return tty.readline().strip().lower().startswith("y")


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Let the first Ctrl-C interrupt a blocking terminal read. The prompts run inside
    ``asyncio.run``, whose SIGINT handler only cancels the main task, which a read blocked in
    the terminal never notices; Python's default handler raises KeyboardInterrupt at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def read_passphrase_env(name: str) -> str:
    """The passphrase in environment variable ``name``."""
    value = os.environ.get(name)
    if value is None:
        raise CliError(Exit.USAGE, f"the environment variable {name} is not set")
    if not value:
        raise CliError(Exit.USAGE, f"the environment variable {name} is empty")
    return value


def read_passphrase_file(path: str) -> str:
    """The passphrase in a file (UTF-8, one trailing newline ignored)."""
    data = _read(path, "passphrase")
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(Exit.USAGE, f"the passphrase file {path} is not UTF-8 text") from None
    if not text:
        raise CliError(Exit.USAGE, f"the passphrase file {path} is empty")
    return text


def read_key_file(path: str) -> bytes:
    """A 32-byte raw key from a file: the raw bytes, hex or base64."""
    data = _read(path, "key")
    if len(data) == KEY_SIZE:
        return data
    return decode_key(data.decode("ascii", "replace"), f"the key file {path}")


def read_key_env(name: str) -> bytes:
    """A 32-byte raw key, hex or base64, from environment variable ``name``."""
    value = os.environ.get(name)
    if value is None:
        raise CliError(Exit.USAGE, f"the environment variable {name} is not set")
    return decode_key(value, f"the environment variable {name}")


def decode_key(text: str, where: str) -> bytes:
    """Decode a 32-byte key written as 64 hex digits or as base64 (standard or urlsafe)."""
    text = text.strip()
    key = b""
    try:
        if len(text) == 2 * KEY_SIZE:
            key = bytes.fromhex(text)
        else:
            key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_SIZE:
        raise CliError(
            Exit.USAGE,
            f"{where} does not hold a {KEY_SIZE}-byte key (expected {KEY_SIZE} raw bytes, "
            f"{2 * KEY_SIZE} hex digits or base64)",
        )
    return key


def read_stdin_secret(what: str) -> str:
    """Read a secret string from standard input: hidden at a prompt when stdin is a terminal,
    otherwise everything piped in (surrounding whitespace removed)."""
    if sys.stdin is None:
        raise CliError(Exit.USAGE, f"no standard input to read the {what} from")
    if sys.stdin.isatty():
        text = prompt_secret(f"Paste the {what} (input is hidden): ", hint="pipe it in")
    else:
        text = sys.stdin.read()
    text = text.strip()
    if not text:
        raise CliError(Exit.USAGE, f"no {what} on standard input; pipe it in, e.g. < file")
    return text


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CliError(Exit.NOT_FOUND, f"the {what} file {path} does not exist") from None
    except OSError as error:
        raise CliError(
            Exit.FAILURE, f"cannot read the {what} file {path}: {error.strerror}"
        ) from None
