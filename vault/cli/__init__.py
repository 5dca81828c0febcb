"""The ``session-vault`` command line (also ``python -m vault``).

Built on :mod:`argparse` rather than Click or Typer: the standard library already gives
subcommands, ``--help`` on each and mutually exclusive options, and the CLI then adds no
dependency to a security package whose users install it next to their Telegram client.

Modules: :mod:`.app` (parser, dispatch, errors), :mod:`.exits` (exit codes),
:mod:`.secret_input` and :mod:`.credentials` (passphrases and keys, never from argv),
:mod:`.atomic` and :mod:`.rewrite` (crash-safe replacement), :mod:`.sessionfile`
(read-only views), the command modules, and :mod:`.progress`.
"""

from __future__ import annotations

from .app import main
from .exits import Exit

__all__ = ["Exit", "main"]
