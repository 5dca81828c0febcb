"""The ``session-vault`` command line (also ``python -m vault``).

Built on :mod:`argparse` rather than Click or Typer: the standard library already gives
subcommands, ``--help`` on each and mutually exclusive options, and the CLI then adds no
dependency to a security package whose users install it next to their Telegram client.

Modules: :mod:`.app` (parser, dispatch, errors), :mod:`.exits` (exit codes),
:mod:`.secret_input` and :mod:`.credentials` (passphrases and keys, never from argv),
:mod:`.target` (one session wherever it is kept; :mod:`.file_target` and
:mod:`.mongo_target` are its two kinds), :mod:`.commands` (each command once, for every
target), :mod:`.vaults` (opening and editing a session), :mod:`.atomic` and :mod:`.rewrite`
(crash-safe replacement of files), :mod:`.sessionfile` (storages over files),
:mod:`.describe` (``info``), :mod:`.string_commands` and :mod:`.progress`.
"""

from __future__ import annotations

from .app import main
from .exits import Exit

__all__ = ["Exit", "main"]
