"""Telegram's public data center addresses, for storages that keep no server address.

Kurigram and Irenogram ask their storage for the address and port to connect to. A session in
the Pyrofork layout stores only the data center id, so vault answers with that data center's
public IPv4 address, as Telegram publishes it (port 443 in production, 80 on the test servers).
"""

from __future__ import annotations

from typing import Final

__all__ = ["public_address"]

_PRODUCTION: Final = {
    1: "149.154.175.53",
    2: "149.154.167.51",
    3: "149.154.175.100",
    4: "149.154.167.91",
    5: "91.108.56.130",
    203: "91.105.192.100",
}
_TEST: Final = {1: "149.154.175.10", 2: "149.154.167.40", 3: "149.154.175.117"}


def public_address(dc_id: int | None, test_mode: bool | None) -> tuple[str, int] | None:
    """``(address, port)`` of data center ``dc_id``; ``None`` for an id Telegram does not list."""
    table, port = (_TEST, 80) if test_mode else (_PRODUCTION, 443)
    address = table.get(dc_id) if dc_id is not None else None
    return None if address is None else (address, port)
