"""The command-line options that name a vault's credentials, and the arguments they become.

The same options serve both directions: to *unlock* an encrypted session (any one slot opens
it) and to give a *new* vault its slots (one slot per option given). Without any of them the
passphrase is asked for on the terminal, twice when it is a new one.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from typing import Any

from ..crypto.kdf import DEFAULT_KDF, DEFAULT_KDF_BUDGET, KdfParams
from .exits import CliError, Exit
from .secret_input import (
    ask_yes_no,
    prompt_secret,
    read_key_env,
    read_key_file,
    read_passphrase_env,
    read_passphrase_file,
)
from .strength import passphrase_weakness

__all__ = [
    "Credentials",
    "PassphraseSource",
    "add_credential_options",
    "add_kdf_options",
    "add_passphrase_options",
    "allows_weak",
    "kdf_from_args",
    "new_passphrase_source",
    "read_new_key",
]

#: How many times a new passphrase is asked for when the repetition does not match.
PROMPT_ATTEMPTS = 3


def add_passphrase_options(
    parser: argparse.ArgumentParser, prefix: str = "", what: str = ""
) -> None:
    """``--{prefix}passphrase-env NAME`` and ``--{prefix}passphrase-file PATH``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"--{prefix}passphrase-env",
        metavar="NAME",
        help=f"read the {what}passphrase from environment variable NAME",
    )
    group.add_argument(
        f"--{prefix}passphrase-file",
        metavar="PATH",
        help=f"read the {what}passphrase from a file (one trailing newline is ignored)",
    )


def add_credential_options(parser: argparse.ArgumentParser, *, keyring: bool = True) -> None:
    """Passphrase, keyring and raw-key options (see the module docstring)."""
    add_passphrase_options(parser)
    if keyring:
        parser.add_argument(
            "--keyring",
            nargs="?",
            const=True,
            default=False,
            metavar="SERVICE",
            help="use a key kept in the OS keyring (optionally under SERVICE)",
        )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--key-file", metavar="PATH", help="a 32-byte raw key file (raw bytes, hex or base64)"
    )
    keys.add_argument(
        "--key-env", metavar="NAME", help="a 32-byte raw key, hex or base64, in variable NAME"
    )


def add_kdf_options(parser: argparse.ArgumentParser) -> None:
    """Argon2id cost options for new passphrase slots (defaults: RFC 9106 low-memory)."""
    d = DEFAULT_KDF
    group = parser.add_argument_group("Argon2id costs of a new passphrase slot (advanced)")
    for option, default, what in (
        ("--kdf-time-cost", d.time_cost, "passes"),
        ("--kdf-memory-kib", d.memory_cost, "memory in KiB"),
        ("--kdf-parallelism", d.parallelism, "lanes"),
    ):
        group.add_argument(
            option, type=int, default=default, metavar="N", help=f"{what} (default {default})"
        )
    parser.add_argument(
        "--allow-weak-passphrase",
        action="store_true",
        help="take a new passphrase zxcvbn finds weak without asking (a warning is still shown)",
    )


def kdf_from_args(args: argparse.Namespace) -> KdfParams:
    """The Argon2id parameters the options ask for."""
    try:
        # Costs below the floor named on the command line are the user's explicit choice (the
        # tests use them); Credentials.kdf() warns about them.
        params = KdfParams(
            args.kdf_time_cost, args.kdf_memory_kib, args.kdf_parallelism, allow_weak=True
        )
    except ValueError as error:
        raise CliError(Exit.USAGE, str(error)) from None
    if not DEFAULT_KDF_BUDGET.admits(params):
        budget = DEFAULT_KDF_BUDGET
        raise CliError(
            Exit.USAGE,
            f"--kdf-memory-kib is at most {budget.memory_cost} and --kdf-time-cost x "
            f"--kdf-memory-kib at most {budget.work}: an unlock spends no more Argon2id work "
            "before the data is authenticated, so stronger slots could not be opened again",
        )
    return params


@dataclass
class PassphraseSource:
    """A passphrase from an environment variable, a file or the terminal, read once."""

    env: str | None
    file: str | None
    label: str = "Passphrase"
    hint_prefix: str = ""
    allow_weak: bool = False
    _value: str | None = field(default=None, repr=False)

    @property
    def given(self) -> bool:
        """Whether an environment variable or a file was named."""
        return self.env is not None or self.file is not None

    def get(self, *, confirm: bool = False) -> str:
        """The passphrase; prompted for (twice if ``confirm``) when no source was named."""
        if self._value is None:
            self._value = self._read(confirm)
        return self._value

    def check(self) -> None:
        """Read an environment variable or file source now, so a missing one is reported
        once, before any session is touched (a prompt still waits until it is needed)."""
        if self.env is not None:
            read_passphrase_env(self.env)
        elif self.file is not None:
            read_passphrase_file(self.file)

    def _read(self, confirm: bool) -> str:
        if self.env is not None:
            value = read_passphrase_env(self.env)
        elif self.file is not None:
            value = read_passphrase_file(self.file)
        elif confirm:
            return self._prompt_new()
        else:
            return self._prompt()
        if confirm:
            self._judge(value, at_prompt=False)
        return value

    @property
    def _hint(self) -> str:
        p = self.hint_prefix
        return f"use --{p}passphrase-env NAME or --{p}passphrase-file PATH"

    def _prompt(self) -> str:
        value = prompt_secret(f"{self.label}: ", hint=self._hint)
        if not value:
            raise CliError(Exit.USAGE, "the passphrase is empty; choose a non-empty passphrase")
        return value

    def _prompt_new(self) -> str:
        """A new passphrase typed twice; asked again when the two differ or the user turns
        down a weak one, at most :data:`PROMPT_ATTEMPTS` times."""
        for _ in range(PROMPT_ATTEMPTS):
            value = self._prompt()
            if prompt_secret(f"Repeat {self.label.lower()}: ", hint=self._hint) != value:
                print("The passphrases did not match; try again.", file=sys.stderr, flush=True)
            elif self._judge(value, at_prompt=True):
                return value
        raise CliError(
            Exit.USAGE, f"no new passphrase after {PROMPT_ATTEMPTS} attempts; nothing was changed"
        )

    def _judge(self, value: str, *, at_prompt: bool) -> bool:
        """Warn about a weak new passphrase; at the prompt, ask whether to use it anyway."""
        weakness = passphrase_weakness(value)
        if weakness is None:
            return True
        print(f"session-vault: warning: weak passphrase: {weakness}", file=sys.stderr, flush=True)
        if not at_prompt or self.allow_weak:
            return True
        return ask_yes_no("Use this weak passphrase anyway?")


class Credentials:
    """What the options say about a vault's credentials."""

    def __init__(self, args: argparse.Namespace, *, label: str = "Passphrase") -> None:
        self.passphrase = PassphraseSource(
            args.passphrase_env, args.passphrase_file, label, allow_weak=allows_weak(args)
        )
        self.keyring: bool | str = getattr(args, "keyring", False)
        self._key_file: str | None = args.key_file
        self._key_env: str | None = args.key_env
        self._key: bytes | None = None
        self._kdf_args = args if hasattr(args, "kdf_time_cost") else None
        self._warned = False

    @property
    def key(self) -> bytes | None:
        """The raw key, if one was named (read once)."""
        if self._key is None:
            if self._key_file is not None:
                self._key = read_key_file(self._key_file)
            elif self._key_env is not None:
                self._key = read_key_env(self._key_env)
        return self._key

    def check(self) -> None:
        """Read every source named by an option now (not the terminal), so that a missing
        variable or file is reported once, before any session is touched."""
        if self.uses_passphrase:
            self.passphrase.check()
        _ = self.key

    @property
    def uses_passphrase(self) -> bool:
        """A passphrase was named, or nothing else was (so the terminal is asked)."""
        no_other = self.keyring is False and self._key_file is None and self._key_env is None
        return self.passphrase.given or no_other

    def kdf(self) -> KdfParams:
        """Argon2id parameters for new passphrase slots (a warning if weaker than default)."""
        if self._kdf_args is None:
            return DEFAULT_KDF
        params = kdf_from_args(self._kdf_args)
        weaker = (
            params.time_cost < DEFAULT_KDF.time_cost or params.memory_cost < DEFAULT_KDF.memory_cost
        )
        if weaker and not self._warned:
            self._warned = True
            print(
                "session-vault: warning: Argon2id parameters weaker than the default make the "
                "passphrase easier to guess",
                file=sys.stderr,
            )
        return params

    def unlock_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~vault.EncryptedStorage` to open an existing vault."""
        return self._kwargs(confirm=False)

    def new_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that give a new vault one slot per credential named (and open
        it again); a prompted passphrase is asked twice. Includes the ``kdf`` to use."""
        return {**self._kwargs(confirm=True), "kdf": self.kdf()}

    def _kwargs(self, *, confirm: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.keyring is not False:
            kwargs["keyring"] = self.keyring
        if self.key is not None:
            kwargs["key"] = self.key
        if self.uses_passphrase:
            kwargs["passphrase"] = self.passphrase.get(confirm=confirm)
        return kwargs


def new_passphrase_source(args: argparse.Namespace) -> PassphraseSource:
    """The new passphrase of ``passwd`` and ``add-key passphrase`` (``--new-passphrase-*``)."""
    return PassphraseSource(
        args.new_passphrase_env,
        args.new_passphrase_file,
        "New passphrase",
        "new-",
        allow_weak=allows_weak(args),
    )


def allows_weak(args: argparse.Namespace) -> bool:
    """Whether ``--allow-weak-passphrase`` was given."""
    return bool(getattr(args, "allow_weak_passphrase", False))


def read_new_key(args: argparse.Namespace) -> bytes:
    """The raw key named by ``--new-key-file`` or ``--new-key-env``."""
    if args.new_key_file is not None:
        return read_key_file(args.new_key_file)
    if args.new_key_env is not None:
        return read_key_env(args.new_key_env)
    raise CliError(
        Exit.USAGE, "name the new raw key with --new-key-file PATH or --new-key-env NAME"
    )
