"""``convert``: a Telethon session file into a Pyrogram-family one, or the reverse; and
``string convert``, the same for session strings.

The source is opened as every command opens it (an encrypted one with the unlocking options,
all its checks included). An encrypted source gives an encrypted destination under the same
vault, so the destination keeps every key slot of the source; a plaintext source gives one
with the slots the options name; ``--plain`` writes a plaintext destination. The destination
is created as ``import`` creates a file: built aside, checked, and linked into place only if
no file has its name. The source is never changed.

A string is converted the same way: an encrypted one (``vault1:`` or ``vault1-telethon:``)
into an encrypted one under the same vault, a plain one into a plain one.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ..crypto.envelope import Header, Purpose, parse
from ..crypto.identity import SessionIdentity
from ..crypto.keyset import Keyset
from ..crypto.sealer import AuthKeySealer
from ..crypto.slots import Credentials as SlotCredentials
from ..crypto.strings import is_encrypted_string, open_session, parse_encrypted_string, seal_session
from ..session_string import SessionData, decode_session_string, encode_session_string
from ..storage import Storage
from ..storage.datacenters import public_address
from ..telethon.strings import (
    TelethonData,
    decode_telethon_string,
    encode_telethon_string,
    envelope_of,
    is_encrypted_telethon_string,
    looks_like_telethon_string,
    open_telethon,
    seal_telethon,
)
from .commands import PLAIN_WARNING, warn
from .credentials import Credentials
from .exits import CliError, Exit
from .file_target import FileTarget
from .secret_input import read_stdin_secret
from .sessionfile import SessionFile
from .string_commands import ask_int, writing_plain
from .target import SessionView, Target
from .telethon_target import TelethonTarget, is_telethon_file
from .vaults import Edit, Outcome, editing, migrating, opened, opened_vault, unchanged, unlocking

__all__ = ["convert", "convert_string"]


async def convert(args: argparse.Namespace) -> str:
    """Create ``args.dest`` in the layout ``args.to`` from the session file ``args.src``."""
    src, dest = Path(args.src), Path(args.dest)
    if dest.exists():
        raise CliError(Exit.REFUSED, f"{dest} already exists; choose another path or move it away")
    if not dest.parent.is_dir():
        raise CliError(Exit.NOT_FOUND, f"the directory {dest.parent} does not exist")
    if not src.is_file():
        raise CliError(Exit.NOT_FOUND, f"{src} does not exist; check the path")
    telethon_source = is_telethon_file(src)
    if telethon_source == (args.to == "telethon"):
        layout = "a Telethon" if telethon_source else "a Pyrogram-family"
        raise CliError(Exit.USAGE, f"{src} is already {layout} session file; nothing to convert")
    source: Target[Any] = TelethonTarget(src) if telethon_source else FileTarget(src)
    view = await source.view()
    if not view.has_auth_key:
        raise CliError(Exit.REFUSED, f"{source} holds no auth key (never logged in)")
    extra = _pyrogram_extra(args) if telethon_source else None  # asked before a passphrase
    # A prompt asks for the source's passphrase, or for the destination's new one.
    creds = Credentials(args, label="Passphrase" if view.encrypted else "New passphrase")
    creds.check()
    data, sealer = await _read(source, view, creds, args, extra)
    try:
        if telethon_source:
            outcome = await FileTarget(dest).create(_pyrogram_edit(data, sealer, creds, args))
        else:
            outcome = await _create_telethon(TelethonTarget(dest), data, sealer, creds, args)
    finally:
        if sealer is not None:
            sealer.close()
    if not outcome.sealed:
        warn(f"{dest} stores the auth key in the clear; protect it with `session-vault encrypt`")
    state = "encrypted" if outcome.sealed else "UNENCRYPTED"
    return f"converted {src} into {state} {args.to} session file {dest}"


def _pyrogram_extra(args: argparse.Namespace, source: str = "file") -> dict[str, Any]:
    """What a Pyrogram-family session holds and a Telethon ``source`` lacks."""
    return {
        "api_id": args.api_id if args.api_id is not None else ask_int("api id", source),
        "user_id": args.user_id if args.user_id is not None else ask_int("user id", source),
        "is_bot": args.bot,
        "test_mode": args.test_mode,
    }


async def _read(
    source: Target[Any],
    view: SessionView,
    creds: Credentials,
    args: argparse.Namespace,
    extra: dict[str, Any] | None,
) -> tuple[SessionData, AuthKeySealer | None]:
    """The source's session (see :func:`_session`) and, when the destination keeps the
    source's slots, a sealer over the source's unlocked vault holding its peer index key
    (``None`` if its cache is plain), so the destination's cache is sealed under the same
    one (the auth key stays in memory only)."""
    snapshot = await source.snapshot()
    if not view.encrypted:
        async with opened(snapshot):
            return await _session(snapshot, view, extra), None
    unlock = creds.unlock_kwargs()
    async with opened_vault(snapshot, rebind=args.rebind, **unlock) as storage:
        data = await _session(storage, view, extra)
    if args.plain:
        return data, None
    assert view.header is not None  # encrypted
    sealer = AuthKeySealer(await asyncio.to_thread(_unlock, view.header, unlock), source.name)
    try:
        raw = await source.snapshot()
        raw.expects_envelopes = True  # read as stored, opened by the sealer below
        async with opened(raw):
            stored = await raw.auth_key()
        sealer.open(stored, rebind=True)  # authenticated above; only its index key is wanted
        sealer.forget()
    except BaseException:
        sealer.close()
        raise
    return data, sealer


async def _session(
    storage: Storage, view: SessionView, extra: dict[str, Any] | None
) -> SessionData:
    """The session in ``storage``; for a Telethon file (``extra``: what it lacks), its dc and
    auth key and ``extra``."""
    if extra is None:
        return await storage.session_data()
    key = await storage.auth_key()
    assert key is not None  # view.has_auth_key
    return SessionData(dc_id=view.fields["dc_id"], auth_key=key, **extra)


def _unlock(header: Header, unlock: dict[str, Any]) -> Keyset:
    """The vault of ``header``, unlocked with the CLI's unlocking options."""
    creds = SlotCredentials.from_args(
        unlock.get("passphrase"), unlock.get("keyring", False), unlock.get("key")
    )
    try:
        return Keyset.unlock(header, creds)
    finally:
        creds.wipe()


def _pyrogram_edit(
    data: SessionData, source: AuthKeySealer | None, creds: Credentials, args: argparse.Namespace
) -> Edit:
    """The edit that writes ``data`` into the new Pyrogram-family file."""
    if args.plain:
        return writing_plain(data)
    if source is not None:
        return _sealed_by(source, data, creds.unlock_kwargs())
    new = creds.new_kwargs()
    return editing(migrating(new, session_string=encode_session_string(data)), unchanged(new))


def _sealed_by(source: AuthKeySealer, data: SessionData, unlock: dict[str, Any]) -> Edit:
    """The edit that stores ``data`` with its auth key sealed under the source's vault and
    peer index key (bound to the new file's name and ``data``'s identity fields), then opens
    it with ``unlock`` as every command does."""
    opener = editing(unlocking(unlock), unchanged(unlock))

    @asynccontextmanager
    async def edit(inner: Storage) -> AsyncIterator[Outcome]:
        assert isinstance(inner, SessionFile)
        identity = SessionIdentity.stored(data.dc_id, data.test_mode, data.user_id)
        sealer = AuthKeySealer(source.keyset, inner.name, identity, index_key=source.index_key)
        envelope = sealer.seal(data.auth_key)
        sealer.forget()  # not closed: the keyset is the source's, wiped by convert()
        plain = SessionFile(inner.database, inner.name)
        plain.expects_envelopes = True  # the envelope is stored as it is
        async with opened(plain):
            await plain.load_session_data(dataclasses.replace(data, auth_key=envelope))
        async with opener(inner) as outcome:
            yield outcome

    return edit


async def _create_telethon(
    dest: TelethonTarget,
    data: SessionData,
    source: AuthKeySealer | None,
    creds: Credentials,
    args: argparse.Namespace,
) -> Outcome:
    """Create the Telethon file ``dest`` holding the auth key of ``data``."""
    telethon = _telethon_data(data)
    dc = (telethon.dc_id, telethon.server_address, telethon.port)
    if args.plain:
        return await dest.create(_kept_plain(data.auth_key), dc, data.auth_key)
    if source is not None:  # sealed under the source's vault and index key, then opened
        unlock = creds.unlock_kwargs()
        sealer = AuthKeySealer(source.keyset, dest.name, index_key=source.index_key)
        envelope = sealer.seal(data.auth_key)
        sealer.forget()  # not closed: the keyset is the source's, wiped by convert()
        return await dest.create(editing(unlocking(unlock), unchanged(unlock)), dc, envelope)
    new = creds.new_kwargs()
    return await dest.create(editing(migrating(new), unchanged(new)), dc, data.auth_key)


def _kept_plain(key: bytes) -> Edit:
    """The edit that keeps the plaintext auth key ``key`` a storage starts with."""

    @asynccontextmanager
    async def edit(inner: Storage) -> AsyncIterator[Outcome]:
        async with opened(inner):
            pass
        yield Outcome(key, {})

    return edit


# --- strings ---------------------------------------------------------------------------------


def convert_string(args: argparse.Namespace, creds: Credentials) -> str:
    """The session string on stdin in the other library's format (``args.to``): encrypted
    under the same vault if it is encrypted (unlocked with ``creds``), else plain."""
    text = read_stdin_secret("session string")
    telethon_source = is_encrypted_telethon_string(text) or looks_like_telethon_string(text)
    if telethon_source == (args.to == "telethon"):
        layout = "a Telethon" if telethon_source else "a Pyrogram-family"
        raise CliError(Exit.USAGE, f"the string is already {layout} string; nothing to convert")
    # What a Telethon string lacks is asked for before any passphrase.
    extra = _pyrogram_extra(args, "string") if telethon_source else {}
    if is_encrypted_telethon_string(text):
        envelope = envelope_of(text)
        keyset = _unlock(parse(envelope, Purpose.AUTH_KEY).header, creds.unlock_kwargs())
        try:
            return seal_session(keyset, _from_telethon(open_telethon(keyset, envelope), extra))
        finally:
            keyset.wipe()
    if is_encrypted_string(text):
        sealed = parse_encrypted_string(text)
        keyset = _unlock(sealed.header, creds.unlock_kwargs())
        try:
            return seal_telethon(keyset, _telethon_data(open_session(keyset, sealed)))
        finally:
            keyset.wipe()
    warn(PLAIN_WARNING)
    if telethon_source:
        return encode_session_string(_from_telethon(decode_telethon_string(text), extra))
    return encode_telethon_string(_telethon_data(decode_session_string(text)))


def _from_telethon(telethon: TelethonData, extra: dict[str, Any]) -> SessionData:
    return SessionData(telethon.dc_id, auth_key=telethon.auth_key, **extra)


def _telethon_data(data: SessionData) -> TelethonData:
    """What a Telethon string holds of ``data``: the public address of its data center."""
    address = public_address(data.dc_id, data.test_mode)
    if address is None:
        raise CliError(Exit.BAD_DATA, f"the session names data center {data.dc_id}, unknown")
    return TelethonData(data.dc_id, *address, data.auth_key)
