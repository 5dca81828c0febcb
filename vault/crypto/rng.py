"""The one source of randomness for keys, salts, nonces and vault ids.

Everything calls :func:`random_bytes`. Tests that need exact bytes (the format vectors) swap in a
deterministic stream with :func:`_deterministic`; nothing else ever does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator

__all__ = ["random_bytes"]

_source: Callable[[int], bytes] = os.urandom


def random_bytes(size: int) -> bytes:
    """``size`` bytes from the operating system's CSPRNG."""
    return _source(size)


@contextlib.contextmanager
def _deterministic(seed: bytes) -> Iterator[None]:
    """Test hook: draw from SHA-256(seed || counter) instead of the OS. Never for real keys."""
    global _source  # noqa: PLW0603 - a test-only switch of the module's single source
    counter = 0

    def stream(size: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < size:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:size]

    saved, _source = _source, stream
    try:
        yield
    finally:
        _source = saved
