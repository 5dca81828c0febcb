"""UnlockArgs: the credentials a caller gives EncryptedStorage, checked when it is created."""

from __future__ import annotations

import warnings

from .crypto.kdf import DEFAULT_KDF_BUDGET, KdfBudget, KdfParams, Passphrase
from .crypto.slots import Credentials, check_budget, check_raw_key
from .crypto.wipe import wipe

__all__ = ["UnlockArgs"]


class UnlockArgs:
    """``passphrase``, ``keyring`` and ``key`` as given (and the deprecated ``migrate``),
    checked now, so a mistake is raised where the storage is created, and turned into
    :class:`Credentials` once, at ``open()``."""

    def __init__(
        self,
        passphrase: Passphrase | None,
        keyring: bool | str,
        key: bytes | None,
        kdf: KdfParams,
        kdf_budget: KdfBudget = DEFAULT_KDF_BUDGET,
        *,
        migrate: bool = False,
        owner: str = "EncryptedStorage",
    ) -> None:
        if passphrase is None and keyring is False and key is None:
            raise ValueError(f"{owner} needs a passphrase, keyring=True or a key")
        if passphrase is not None and not (
            callable(passphrase) or isinstance(passphrase, str | bytes)
        ):
            raise TypeError("passphrase must be str, bytes or a zero-argument callable")
        if key is not None:
            check_raw_key(key)
        if not isinstance(kdf, KdfParams):
            raise TypeError("kdf must be a vault.crypto.KdfParams")
        check_budget(kdf_budget)
        if not kdf_budget.admits(kdf):
            raise ValueError(
                f"kdf (t={kdf.time_cost}, m={kdf.memory_cost} KiB) costs more than kdf_budget "
                f"admits ({kdf_budget.describe()}), so its slots could not be opened again; "
                "pass kdf_budget=KdfBudget.admitting(kdf) or larger"
            )
        if migrate:
            warnings.warn(
                "EncryptedStorage(migrate=True) is deprecated and no longer encrypts a stored "
                "plaintext key; use `await EncryptedStorage.encrypt_plaintext(inner, ...)`",
                DeprecationWarning,
                stacklevel=3,
            )
        self._passphrase = passphrase
        self._keyring = keyring
        self._key = None if key is None else bytearray(key)
        self.kdf_budget = kdf_budget

    def take(self) -> Credentials:
        """The credentials (a passphrase callable is called now); the caller wipes them. The
        passphrase is dropped here; the raw key stays until :meth:`wipe`."""
        passphrase, self._passphrase = self._passphrase, None
        return Credentials.from_args(passphrase, self._keyring, self._key, self.kdf_budget)

    def wipe(self) -> None:
        self._passphrase = None
        if self._key is not None:
            wipe(self._key)
            self._key = None
