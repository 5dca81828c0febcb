"""Variants of the docs-only backend, each breaking one rule of the contract on purpose."""

from __future__ import annotations

from typing import Any

from .dict_storage import DictStorage


class IgnoresTTL(DictStorage):
    """Cached usernames never expire."""

    def _fresh(self, stored_at: int) -> bool:
        return True


class NoneForMissing(DictStorage):
    """A peer that is not cached gives ``None`` instead of raising ``KeyError``."""

    async def get_peer_by_id(self, peer_id: int) -> Any:
        try:
            return await super().get_peer_by_id(peer_id)
        except KeyError:
            return None


class ForgetsOnReopen(DictStorage):
    """Each storage object starts from an empty server: nothing survives a reopen."""

    def __init__(self, name: str, server: dict[str, dict[str, Any]]) -> None:
        super().__init__(name, {})
