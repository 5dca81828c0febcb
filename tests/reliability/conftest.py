"""Fixtures of the reliability suite: the counts tally shared by all its tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._support import Tally


@pytest.fixture(scope="session")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """Record measured counts; they are written to ``build/reliability.json`` at the end."""
    marks = str(request.config.getoption("markexpr"))
    counts = Tally("stress" if marks.replace(" ", "") == "stress" else "default")
    yield counts
    counts.write()
