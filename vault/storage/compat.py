"""Let Pyrogram-family clients that check a storage engine's type accept vault's storages.

Kurigram and Irenogram accept ``storage_engine=`` only if ``isinstance(x,
pyrogram.storage.Storage)``, and Hydrogram's ``session_storage_engine=`` only if
``isinstance(x, hydrogram.storage.BaseStorage)``; anything else is silently replaced by the
client's own, unencrypted, SQLite file. vault depends on none of them, so it registers its
:class:`~vault.storage.Storage` with each of them that is loaded:

* a client base class that is an :class:`abc.ABC` (Kurigram, Hydrogram) gets vault's class
  through :meth:`abc.ABCMeta.register`, a virtual subclass;
* a plain base class (Irenogram, Pyrofork, Pyrogram) cannot take virtual subclasses, so it is
  appended to the bases of vault's :class:`~vault.storage.Storage`. It sits after vault's own
  class in the method order, so vault's methods are the ones that run.

When it runs: :func:`install` (called when :mod:`vault.storage` is imported) registers with
the clients already imported and puts a finder on :data:`sys.meta_path` that registers with a
client's storage package right after that package is imported. Import order therefore does
not matter: a storage made before its client was imported is accepted too. The finder looks
only at the two module names below; it imports nothing itself.
"""

from __future__ import annotations

import abc
import importlib.abc
import logging
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Final

from .base import Storage

__all__ = ["CLIENT_STORAGE_BASES", "install", "register_loaded_clients"]

log = logging.getLogger(__name__)

#: ``(module, class name)`` of each client's storage base class. ``pyrogram.storage`` is the
#: same import name for Pyrogram, Pyrofork, Kurigram and Irenogram.
CLIENT_STORAGE_BASES: Final = (
    ("pyrogram.storage", "Storage"),
    ("hydrogram.storage", "BaseStorage"),
)
_BASE_NAMES: Final = dict(CLIENT_STORAGE_BASES)

_registered: set[type] = set()


def install() -> None:
    """Register vault's storages with the clients imported so far, and with each other one
    as soon as it is imported. Calling it again does nothing new."""
    if not any(isinstance(finder, _ClientStorageFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ClientStorageFinder())
    register_loaded_clients()


def register_loaded_clients() -> list[type]:
    """Register vault's storages with the clients whose storage package is already imported.

    :func:`install` does this, and the import hook does it for clients imported later, so
    callers need not. Returns the client base classes registered by this call.
    """
    done = []
    for module_name in _BASE_NAMES:
        module = sys.modules.get(module_name)
        base = _register_with(module) if module is not None else None
        if base is not None:
            done.append(base)
    return done


def _register_with(module: ModuleType) -> type | None:
    """Register with the storage base class of ``module`` (a client's storage package);
    return it, or ``None`` if there was nothing to do or it could not be done."""
    base = getattr(module, _BASE_NAMES[module.__name__], None)
    if not isinstance(base, type) or base in _registered:
        return None
    _registered.add(base)
    storage: type = Storage
    if issubclass(storage, base):
        return None
    try:
        if isinstance(base, abc.ABCMeta):
            base.register(storage)
        else:
            storage.__bases__ = (*storage.__bases__, base)
    except TypeError as error:  # a base whose layout conflicts: never break the client's import
        log.warning(
            "cannot register vault storages as %s.%s (%s): pass them to its Client at your "
            "own risk, it may replace them with its own unencrypted storage",
            base.__module__,
            base.__qualname__,
            error,
        )
        return None
    log.debug("registered vault storages as %s.%s", base.__module__, base.__qualname__)
    return base


class _ClientStorageFinder(importlib.abc.MetaPathFinder):
    """Finds a client's storage package with the other finders and has its loader register
    vault's storages once the package has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _BASE_NAMES:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is None or isinstance(finder, _ClientStorageFinder):
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    """The real loader, plus registration once the module has run. The module gets the real
    loader back before it runs, so nothing of this stays visible on it."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        _register_with(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
