"""Shared helpers of the reliability suite: scaled counts, the counts report, child processes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
#: Where measured counts go; ``docs/reliability.md`` is filled from it.
REPORT = ROOT / "build" / "reliability.json"


def scaled(normal: int, stress: int) -> pytest.MarkDecorator:
    """Parametrize a test's ``count``: ``normal`` in the default run, ``stress`` under
    ``-m stress`` (the stress case carries the marker, so each run picks one)."""
    return pytest.mark.parametrize(
        "count",
        [
            pytest.param(normal, id="normal"),
            pytest.param(stress, id="stress", marks=pytest.mark.stress),
        ],
    )


class Tally:
    """Counts measured by the tests of one pytest run; printed at once, written at the end
    under the run's name (``stress`` or ``default``)."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.entries: dict[str, dict[str, Any]] = {}

    def record(self, key: str, **values: Any) -> None:
        """Record the numbers of one property (a later call with the same key adds up)."""
        entry = self.entries.setdefault(key, {})
        for name, value in values.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                entry[name] = entry.get(name, 0) + value
            else:
                entry[name] = value
        shown = ", ".join(f"{name}={value}" for name, value in values.items())
        print(f"\n[reliability] {key}: {shown}")

    def write(self, path: Path = REPORT) -> None:
        """Merge this run's entries into the JSON report (entries of other runs are kept)."""
        if not self.entries:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            report = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            report = {}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        section = report.setdefault(self.run, {})
        for key, entry in self.entries.items():
            section[key] = {**entry, "measured": stamp, "python": sys.version.split()[0]}
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


def cap_file_size(limit: int) -> None:
    """From now on, writes past ``limit`` bytes of any file fail with EFBIG, as on a full file
    system (``RLIMIT_FSIZE``; call it only in a child process, it cannot be raised again)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def in_child(func: Callable[[], None], *, as_nobody: bool = False) -> None:
    """Run ``func`` in a forked child and fail if it raised (its error goes to stderr).

    ``as_nobody`` drops to an unprivileged user when we are root (root ignores file modes).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            if as_nobody and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            func()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child's checks failed (see its stderr)"


class Hang(Exception):
    """One fuzz example ran past the watchdog."""


@contextlib.contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    """Raise :class:`Hang` in the main thread if the block runs longer than ``seconds``: a
    guard against hangs, far above any real duration (this is no speed test)."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"one example ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def max_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Growth of peak memory allowed over one fuzz run: inputs are small, so anything near this
#: means something grew without bound.
MEMORY_BUDGET_MIB = 256


def fuzz(strategy: SearchStrategy[T], check: Callable[[T], object], examples: int) -> int:
    """Run ``check`` on ``examples`` inputs drawn from ``strategy``; return how many ran.

    Each example runs under :func:`watchdog`; peak memory may not grow by more than
    :data:`MEMORY_BUDGET_MIB` over the run.
    """
    seen = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: T) -> None:
        nonlocal seen
        seen += 1
        with watchdog(30):
            check(value)

    before = max_rss_mib()
    run()
    grown = max_rss_mib() - before
    assert grown < MEMORY_BUDGET_MIB, f"peak memory grew by {grown:.0f} MiB during fuzzing"
    return seen
