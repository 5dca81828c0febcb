"""Sealing the peer cache a MongoDB session already stores (``session-vault encrypt`` and
``seal-peers``), and emptying it again (``decrypt``).

A server changes one document at a time, so the cached usernames and phone numbers cannot be
replaced by their tokens in the same write as the envelope that holds the index key. The
session document's ``peers_sealing`` field marks a sealing in progress, and the work is split
into steps that are each safe to repeat; a lookup finds its peer after a crash at any moment:

1. :func:`stage` sets the marker, then writes each peer's tokens beside its plain values
   (``sealing_username``, ``sealing_phone_number``, the document marked ``staged``) and each
   extra username's token as a new document marked ``staged`` beside the plain one. The
   envelope has no index key yet, so clients look up plain values, which are all still there.
   A crash here: a rerun stages again under a new index key, dropping what was staged.
2. The caller writes the envelope holding the index key: one update. From now on lookups are
   by token; while the marker is set :class:`~vault.storage.MongoStorage` also looks in the
   staged fields, and the staged username documents are found by their ``_id``.
3. :func:`finish` moves the staged tokens over the plain values, deletes the plain username
   documents, then drops the ``staged`` marks and the marker. Knowing no secret, it is what a
   rerun does after a crash past step 2.

The server's own files, its oplog and backups may still hold the plain values: see
``docs/mongo.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pymongo import UpdateOne

from .mongo import SEALING, STAGED_PHONE, STAGED_USERNAME, MongoStorage, sealing_state

if TYPE_CHECKING:
    from ..crypto.peer_index import PeerIndex

__all__ = ["clear_tokens", "finish", "stage"]

#: The values of the SEALING field: during step 1 (and until step 3 starts), and once the
#: plain username documents are gone.
_STAGING: Final = "staging"
_UNMARKING: Final = "unmarking"
_STAGED_MARK: Final = "staged"
#: Documents written per ``bulk_write``.
_BATCH: Final = 1000


async def _mark(storage: MongoStorage, state: str | None) -> None:
    change = {"$unset": {SEALING: ""}} if state is None else {"$set": {SEALING: state}}
    await storage._session.update_one({"_id": storage._session_id}, change)


async def _write(collection: Any, ops: list[Any]) -> None:
    for start in range(0, len(ops), _BATCH):
        await collection.bulk_write(ops[start : start + _BATCH])


async def stage(storage: MongoStorage, index: PeerIndex) -> None:
    """Step 1: the tokens under ``index`` staged beside the plain values of the open
    ``storage`` (which holds the session's lease)."""
    scope = storage._scope
    await _mark(storage, _STAGING)
    # An interrupted earlier run staged under an index key that was never stored.
    await storage._usernames.delete_many({**scope, _STAGED_MARK: True})
    peers = await storage._peers.find(scope, {"username": 1, "phone_number": 1}).to_list()
    await _write(
        storage._peers,
        [
            UpdateOne(
                {"_id": doc["_id"]},
                {
                    "$set": {
                        STAGED_USERNAME: _token(index.username, doc.get("username")),
                        STAGED_PHONE: _token(index.phone, doc.get("phone_number")),
                        _STAGED_MARK: True,
                    }
                },
            )
            for doc in peers
        ],
    )
    names = await storage._usernames.find(scope).to_list()
    await _write(storage._usernames, [_staged_alias(storage, index, doc) for doc in names])


def _staged_alias(storage: MongoStorage, index: PeerIndex, plain: dict[str, Any]) -> UpdateOne:
    """The upsert of the staged token document beside the username document ``plain``."""
    token = index.username(str(storage._natural(plain, "id")))
    fields = {"peer_id": plain["peer_id"], "last_update_on": plain["last_update_on"]}
    return UpdateOne(
        {"_id": storage._key(token)},
        {"$set": storage._doc(token, "id", **fields, **{_STAGED_MARK: True})},
        upsert=True,
    )


def _token(seal: Callable[[str], str], value: object) -> str | None:
    return None if value is None else seal(str(value))


async def finish(storage: MongoStorage) -> None:
    """Step 3: the staged tokens replace the plain values, in the open ``storage`` (which
    holds the session's lease); does nothing if no sealing is in progress."""
    document = await storage._session.find_one({"_id": storage._session_id}, {SEALING: 1})
    state = sealing_state(document or {})
    if state is None:
        return
    scope = storage._scope
    if state == _STAGING:
        staged = {**scope, _STAGED_MARK: True}
        fields = {STAGED_USERNAME: 1, STAGED_PHONE: 1}
        peers = await storage._peers.find(staged, fields).to_list()
        await _write(
            storage._peers,
            [
                UpdateOne(
                    {"_id": doc["_id"]},
                    {
                        "$set": {
                            "username": doc.get(STAGED_USERNAME),
                            "phone_number": doc.get(STAGED_PHONE),
                        },
                        "$unset": {STAGED_USERNAME: "", STAGED_PHONE: "", _STAGED_MARK: ""},
                    },
                )
                for doc in peers
            ],
        )
        await storage._usernames.delete_many({**scope, _STAGED_MARK: None})
        # From here on an unmarked username document is a token: never delete those again.
        await _mark(storage, _UNMARKING)
    await storage._usernames.update_many(
        {**scope, _STAGED_MARK: True}, {"$unset": {_STAGED_MARK: ""}}
    )
    await _mark(storage, None)


async def clear_tokens(storage: MongoStorage) -> None:
    """Empty the tokens of a session just decrypted (they find nothing without its index key):
    usernames and phone numbers become ``None`` and the username documents go; ids and access
    hashes stay, and the client stores the plain values again as it meets the peers."""
    scope = storage._scope
    cleared = {"username": None, "phone_number": None}
    await storage._peers.update_many(scope, {"$set": cleared})
    await storage._usernames.delete_many(scope)
