"""Which files a command works on (globs, directories) and a progress bar over them."""

from __future__ import annotations

import glob
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from .sessionfile import SUFFIX

__all__ = ["Progress", "expand_paths"]

_GLOB_CHARS = frozenset("*?[")


def expand_paths(arguments: Iterable[str], *, recursive: bool = False) -> list[Path]:
    """Turn arguments into session files: a directory gives its ``*.session`` files (with
    ``recursive``, those of its subdirectories too), a quoted glob is expanded here (shells
    usually do it first), anything else is taken as a file path. Order is kept, duplicates
    dropped."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            pattern = f"**/*{SUFFIX}" if recursive else f"*{SUFFIX}"
            found.extend(sorted(p for p in path.glob(pattern) if p.is_file()))
        elif not path.exists() and _GLOB_CHARS & set(argument):
            matches = sorted(glob.glob(argument, recursive=recursive))
            found.extend([Path(m) for m in matches] or [path])
        else:
            found.append(path)
    seen: set[Path] = set()
    unique = []
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal and there is
    more than one item; :meth:`say` prints a message line without breaking the bar."""

    WIDTH = 24

    def __init__(self, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.active = enabled and total > 1 and self.stream.isatty()

    def start(self, label: str) -> None:
        """Show that work on item ``label`` started."""
        if self.active:
            filled = self.WIDTH * self.done // self.total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r\x1b[K[{bar}] {self.done}/{self.total} {label}")
            self.stream.flush()

    def advance(self) -> None:
        """Count one item as done."""
        self.done += 1

    def say(self, line: str, stream: TextIO | None = None) -> None:
        """Print ``line`` (to ``stream``, stdout by default) above the bar."""
        self.clear()
        print(line, file=stream or sys.stdout, flush=True)

    def clear(self) -> None:
        """Erase the bar (before other output and at the end)."""
        if self.active:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
