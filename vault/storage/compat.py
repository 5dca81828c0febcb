"""Let Pyrogram-family clients that check a storage engine's type accept vault's storages.

Kurigram and Irenogram accept ``storage_engine=`` only if ``isinstance(x,
pyrogram.storage.Storage)``, and Hydrogram's ``session_storage_engine=`` only if
``isinstance(x, hydrogram.storage.BaseStorage)``; anything else is silently replaced by the
client's own, unencrypted, SQLite file. vault depends on none of them, so it registers its
:class:`~vault.storage.Storage` with whichever of them is loaded:

* a client base class that is an :class:`abc.ABC` (Kurigram, Hydrogram) gets vault's class
  through :meth:`abc.ABCMeta.register`, a virtual subclass;
* a plain base class (Irenogram, Pyrofork, Pyrogram) cannot take virtual subclasses, so it is
  appended to the bases of vault's :class:`~vault.storage.Storage`. It sits after vault's own
  class in the method order, so vault's methods are the ones that run.

When it runs: every vault storage calls :func:`register_loaded_clients` when it is created, so
``Client(..., storage_engine=FileStorage(...))`` works whenever the client was imported first
(the usual case: the client's ``Client`` class is imported before it is called). Code that
creates a storage *before* importing its client calls :func:`register_clients` once, which
imports each installed client's storage package itself.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import logging
import sys
from typing import Final

from . import base as _base  # base.py imports this module too: use it only at call time

__all__ = ["CLIENT_STORAGE_BASES", "register_clients", "register_loaded_clients"]

log = logging.getLogger(__name__)

#: ``(module, class name)`` of each client's storage base class. ``pyrogram.storage`` is the
#: same import name for Pyrogram, Pyrofork, Kurigram and Irenogram.
CLIENT_STORAGE_BASES: Final = (
    ("pyrogram.storage", "Storage"),
    ("hydrogram.storage", "BaseStorage"),
)

_registered: set[type] = set()


def register_loaded_clients() -> list[type]:
    """Register vault's storages with the clients whose storage package is already imported.

    Costs a few dictionary look-ups when there is nothing new to do. Returns the client base
    classes registered by this call.
    """
    done: list[type] = []
    for module_name, class_name in CLIENT_STORAGE_BASES:
        module = sys.modules.get(module_name)
        base = getattr(module, class_name, None) if module is not None else None
        if isinstance(base, type) and base not in _registered and _register(base):
            done.append(base)
    return done


def register_clients() -> list[type]:
    """Import the storage package of every installed client and register vault's storages.

    Call it once before creating storages if the client is imported only later. Importing a
    client takes a moment (it loads its whole API); clients that are not installed are
    skipped. Returns the client base classes registered by this call.
    """
    for module_name, _ in CLIENT_STORAGE_BASES:
        package = module_name.partition(".")[0]
        if module_name in sys.modules or importlib.util.find_spec(package) is None:
            continue
        try:
            importlib.import_module(module_name)
        except ImportError as error:
            log.warning("cannot import %s, not registering with it: %s", module_name, error)
    return register_loaded_clients()


def _register(base: type) -> bool:
    storage: type = _base.Storage
    _registered.add(base)
    if issubclass(storage, base):
        return False
    if isinstance(base, abc.ABCMeta):
        base.register(storage)
    else:
        storage.__bases__ = (*storage.__bases__, base)
    log.debug("registered vault storages as %s.%s", base.__module__, base.__qualname__)
    return True
