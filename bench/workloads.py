"""The workloads. Each sets up untimed, then times one part under the stall ticker."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vault import EncryptedStorage
from vault.crypto import DEFAULT_KDF
from vault.crypto.kdf import derive_key
from vault.storage import FileStorage

from .contenders import PASSPHRASE, RAW_KEY, Contender
from .data import make_peers, shuffle
from .stall import StallTicker

AUTH_KEY = bytes(range(256))
#: A lookup that needs no thread never suspends, so a loop of them would hold the event loop
#: for the whole run; like a client handling many updates, the loop yields now and then.
LOOKUPS_PER_YIELD = 100


@dataclass(frozen=True)
class Sizes:
    writes: tuple[int, ...] = (1_000, 10_000, 100_000)
    #: Rows a call of the small-batch workloads, each made ``small_calls`` times.
    small_batches: tuple[int, ...] = (1, 10, 100)
    small_calls: int = 2_000
    #: Updates of the client-shaped workload.
    updates: int = 2_000
    peers_per_sample: int = 10_000
    lookup_peers: int = 100_000
    hot_keys: int = 100
    hot_lookups: int = 100_000
    churn: int = 2_000
    open_peers: int = 10_000
    cycles: int = 10
    strings: int = 200
    #: Calls of each accessor (auth_key, dc_id, user_id) a sample.
    accessor_calls: int = 20_000
    #: Other cache sizes the cold lookups run at (``--large`` adds 1,000,000), at most
    #: ``scaling_lookups`` distinct peers each.
    scaling: tuple[int, ...] = (1_000,)
    scaling_lookups: int = 10_000
    #: Rounds at least of the workloads whose longest stall has a target.
    stall_rounds: int = 10
    #: Peers in the file whose close() is timed.
    close_peers: int = 100_000


QUICK = Sizes(
    writes=(50, 200),
    small_batches=(1, 10),
    small_calls=20,
    updates=20,
    peers_per_sample=200,
    lookup_peers=200,
    hot_keys=10,
    hot_lookups=200,
    churn=50,
    open_peers=50,
    cycles=2,
    strings=3,
    accessor_calls=50,
    scaling=(50,),
    scaling_lookups=50,
    stall_rounds=1,
    close_peers=200,
)


@dataclass(frozen=True)
class Sample:
    seconds: float
    ops: int
    stall: float


class Timer:
    sample: Sample | None = None


@asynccontextmanager
async def timed(ops: int) -> AsyncIterator[Timer]:
    """Time the body under the 1 ms stall ticker."""
    timer = Timer()
    async with StallTicker() as ticker:
        start = time.perf_counter()
        yield timer
        seconds = time.perf_counter() - start
    timer.sample = Sample(seconds, ops, ticker.longest)


@dataclass(frozen=True)
class Workload:
    name: str
    #: ``run(contender, workdir)`` -> a sample, or None where the workload does not apply.
    run: Callable[[Contender, Path], Awaitable[Sample | None]]
    unit: str = "op"
    #: Rounds at least, whatever ``--rounds`` says.
    min_rounds: int = 1


async def _open(c: Contender, workdir: Path, name: str = "bench") -> Any:
    storage = c.make(workdir, name)
    await storage.open()
    return storage


def update_peers(count: int, sizes: Sizes) -> Workload:
    # Small updates are timed over several calls, each of new peers, so that one sample lasts
    # long enough to rise above the machine's noise.
    calls = max(1, sizes.peers_per_sample // count)
    everyone = make_peers(count * calls)
    batches = [everyone[i * count : (i + 1) * count] for i in range(calls)]

    async def run(c: Contender, workdir: Path) -> Sample:
        s = await _open(c, workdir)
        try:
            async with timed(count * calls) as t:
                for rows in batches:
                    await s.update_peers(rows)
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload(f"update_peers {_k(count)}", run, "peer")


def small_batches(count: int, sizes: Sizes) -> Workload:
    """``update_peers`` of ``count`` rows, called ``small_calls`` times on its own (new peers
    each call), then one ``save()``: both timed, so a write put off is paid for here."""
    everyone = make_peers(count * sizes.small_calls)
    batches = [everyone[i * count : (i + 1) * count] for i in range(sizes.small_calls)]

    async def run(c: Contender, workdir: Path) -> Sample:
        s = await _open(c, workdir)
        try:
            async with timed(len(batches)) as t:
                for rows in batches:
                    await s.update_peers(rows)
                await s.save()
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload(_small_batch_name(count, sizes), run, "call")


def _small_batch_name(count: int, sizes: Sizes) -> str:
    return f"update_peers {count} a call x {sizes.small_calls:,}, then save()"


def client_updates(sizes: Sizes) -> Workload:
    """What a Pyrogram-family client's ``handle_updates`` writes per update: the update's
    few peers, their usernames, then the update state of its chat."""
    peers = make_peers(3 * sizes.updates)

    async def run(c: Contender, workdir: Path) -> Sample | None:
        if c.peers_only:
            return None
        s = await _open(c, workdir)
        try:
            async with timed(sizes.updates) as t:
                for i in range(sizes.updates):
                    rows = peers[3 * i : 3 * i + 3]
                    await s.update_peers(rows)
                    await s.update_usernames([(rows[0][0], f"extra{i}")])
                    await s.update_state(_state_row(i))
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload("client updates (3 peers, 1 username, update_state)", run, "update")


def lookups(sizes: Sizes, by: str, hot: bool, cached: int | None = None) -> Workload:
    """Lookups in a cache of ``lookup_peers`` peers, or of ``cached`` (a scaling point: cold,
    at most ``scaling_lookups`` distinct peers)."""
    peers = make_peers(sizes.lookup_peers if cached is None else cached)
    column = {"id": 0, "username": 3, "phone": 4}[by]
    keys: list[Any] = shuffle([p[column] for p in peers if p[column] is not None])
    if cached is not None:
        keys = keys[: sizes.scaling_lookups]
    if hot:
        few = keys[: sizes.hot_keys]
        keys = (few * (sizes.hot_lookups // len(few) + 1))[: sizes.hot_lookups]
    method = {"id": "get_peer_by_id", "username": "get_peer_by_username"}.get(
        by, "get_peer_by_phone_number"
    )

    async def run(c: Contender, workdir: Path) -> Sample:
        s = await _open(c, workdir)
        await s.update_peers(peers)
        await s.save()  # a running client commits often (update_state, save)
        if c.persistent:  # cold: a fresh connection with an empty page cache
            await s.close()
            s = await _open(c, workdir)
        lookup = getattr(s, method)
        try:
            async with timed(len(keys)) as t:
                for i, key in enumerate(keys):
                    await lookup(key)
                    if i % LOOKUPS_PER_YIELD == 0:
                        await asyncio.sleep(0)
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    kind = "hot" if hot else "cold"
    return Workload(f"lookup by {by} ({kind}){scaling_suffix(cached)}", run, "lookup")


def scaling_suffix(cached: int | None) -> str:
    """How a scaling point's lookup workloads are named after the main ones."""
    return "" if cached is None else f", {_k(cached)} peers"


def scaling_points(sizes: Sizes) -> dict[str, list[tuple[int, str]]]:
    """For each lookup key, the cold lookup workloads' ``(cache size, name)``, smallest first."""
    points = [(sizes.lookup_peers, None), *((n, n) for n in sizes.scaling)]
    return {
        by: sorted((n, f"lookup by {by} (cold){scaling_suffix(c)}") for n, c in points)
        for by in ("id", "username", "phone")
    }


def _state_row(i: int) -> tuple[int, int, int, int, int]:
    """The ``i``-th update state written: one of 100 chats, pts/qts/seq ``i``."""
    return (-1_000_000_000_000 - i % 100, i, i, 1_700_000_000 + i, i)


def state_churn(sizes: Sizes) -> Workload:
    async def run(c: Contender, workdir: Path) -> Sample:
        s = await _open(c, workdir)
        try:
            async with timed(sizes.churn) as t:
                for i in range(sizes.churn):
                    if i % 5 == 4:
                        await s.remove_state(_state_row(i)[0])
                    else:
                        await s.update_state(_state_row(i))
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload("update_state churn", run, "write")


async def _logged_in(s: Any) -> None:
    await s.dc_id(2)
    await s.api_id(12345)
    await s.test_mode(False)
    await s.auth_key(AUTH_KEY)
    await s.user_id(777000)
    await s.is_bot(False)


def open_close(sizes: Sizes, *, kdf: bool = True) -> Workload:
    peers = make_peers(sizes.open_peers)

    async def run(c: Contender, workdir: Path) -> Sample | None:
        encrypted = c.name.startswith("vault Encrypted")
        if c.peers_only or (not kdf and not encrypted):
            return None
        make = c.make
        if encrypted:

            def make(d: Path, n: str) -> Any:
                inner = FileStorage(n, workdir=d)
                if kdf:
                    return EncryptedStorage(inner, passphrase=PASSPHRASE, kdf=DEFAULT_KDF)
                return EncryptedStorage(inner, key=RAW_KEY)

            s = EncryptedStorage(
                FileStorage("bench", workdir=workdir),
                passphrase=PASSPHRASE,
                key=RAW_KEY,
                kdf=DEFAULT_KDF,
            )
        else:
            s = c.make(workdir, "bench")
        await s.open()
        await _logged_in(s)
        await s.update_peers(peers)
        await s.close()
        async with timed(sizes.cycles) as t:
            for _ in range(sizes.cycles):
                s = make(workdir, "bench")
                await s.open()
                await s.close()
        assert t.sample is not None
        return t.sample

    name = "open+close" if kdf else "open+close, KDF excluded (raw-key slot)"
    return Workload(name, run, "cycle")


def accessors(sizes: Sizes) -> Workload:
    """``auth_key()``, ``dc_id()`` and ``user_id()`` read in turn, as a client reads them."""

    async def run(c: Contender, workdir: Path) -> Sample | None:
        if c.peers_only:
            return None
        # Pyrofork's accessors call inspect.stack(), milliseconds each in this harness: a
        # hundredth of the calls gives samples as long (the per-call median is compared).
        calls = sizes.accessor_calls if c.name.startswith("vault") else sizes.accessor_calls // 100
        s = await _open(c, workdir)
        try:
            await _logged_in(s)
            async with timed(3 * max(1, calls)) as t:
                for _ in range(max(1, calls)):
                    await s.auth_key()
                    await s.dc_id()
                    await s.user_id()
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload("accessors (auth_key, dc_id, user_id)", run, "call")


def close_big(sizes: Sizes) -> Workload:
    """One ``close()`` of a session holding ``close_peers`` peers, saved before."""
    peers = make_peers(sizes.close_peers)

    async def run(c: Contender, workdir: Path) -> Sample | None:
        if c.peers_only:
            return None
        s = await _open(c, workdir)
        try:
            await _logged_in(s)
            await s.update_peers(peers)
            await s.save()
        finally:
            async with timed(1) as t:
                await s.close()
        assert t.sample is not None
        return t.sample

    return Workload(f"close() of {_k(sizes.close_peers)} peers", run, "close")


def argon2id_run(sizes: Sizes) -> Workload:
    """One Argon2id derivation with vault's default parameters, for the open() budget."""

    async def run(c: Contender, workdir: Path) -> Sample | None:
        if not c.name.startswith("vault Encrypted"):
            return None
        salt = os.urandom(16)
        async with timed(sizes.cycles) as t:
            for _ in range(sizes.cycles):
                # Off the loop, as EncryptedStorage.open() runs it.
                await asyncio.to_thread(derive_key, PASSPHRASE.encode(), salt, DEFAULT_KDF)
        assert t.sample is not None
        return t.sample

    return Workload("one Argon2id run (default parameters)", run, "run")


#: With ``plain=True`` the string workloads compare like with like: only these two run, and
#: EncryptedStorage exports (and then imports) a plain string, as FileStorage does.
PLAIN_STRING_CONTENDERS = ("vault File", "vault Encrypted(File)")


def _string_count(c: Contender, sizes: Sizes) -> int:
    """Strings a sample handles: Pyrofork's take 50 ms or more each, so a tenth of vault's
    count gives samples as long (the per-string median is what is compared)."""
    return sizes.strings if c.name.startswith("vault") else max(1, sizes.strings // 10)


def _exporter(s: Any, plain: bool) -> Callable[[], Awaitable[str]]:
    method = getattr(s, "export_plain_session_string", None) if plain else None
    return method or s.export_session_string  # type: ignore[no-any-return]


def export_strings(sizes: Sizes, *, plain: bool = False) -> Workload:
    async def run(c: Contender, workdir: Path) -> Sample | None:
        if c.peers_only or (plain and c.name not in PLAIN_STRING_CONTENDERS):
            return None
        s = await _open(c, workdir)
        try:
            await _logged_in(s)
            export = _exporter(s, plain)
            count = _string_count(c, sizes)
            async with timed(count) as t:
                for _ in range(count):
                    await export()
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload("export_session_string" + (", plain string" if plain else ""), run, "string")


def import_strings(sizes: Sizes, *, plain: bool = False) -> Workload:
    """Into an open storage with ``import_session_string`` (vault), or, for the memory
    storages, as clients do it: ``MemoryStorage(name, session_string)`` + open + close."""

    async def run(c: Contender, workdir: Path) -> Sample | None:
        if c.peers_only or (plain and c.name not in PLAIN_STRING_CONTENDERS):
            return None
        s = await _open(c, workdir)
        try:
            await _logged_in(s)
            string = await _exporter(s, plain)()
            importer = getattr(s, "import_session_string", None) if c.persistent else None
            if c.persistent and importer is None:
                return None  # Pyrofork's FileStorage cannot import a string
            count = _string_count(c, sizes)
            async with timed(count) as t:
                for _ in range(count):
                    if importer is not None:
                        await importer(string)
                    else:
                        m = type(s)("imported", string)
                        await m.open()
                        await m.close()
        finally:
            await s.close()
        assert t.sample is not None
        return t.sample

    return Workload("import session string" + (", plain string" if plain else ""), run, "string")


def all_workloads(sizes: Sizes) -> list[Workload]:
    found: list[Workload] = [update_peers(n, sizes) for n in sizes.writes]
    found += [small_batches(n, sizes) for n in sizes.small_batches]
    # The longest stall has a target in the biggest write and in one-row calls.
    stalls = {found[len(sizes.writes) - 1].name, _small_batch_name(1, sizes)}
    found = [replace(w, min_rounds=sizes.stall_rounds) if w.name in stalls else w for w in found]
    found.append(client_updates(sizes))
    for by in ("id", "username", "phone"):
        found += [lookups(sizes, by, hot=False), lookups(sizes, by, hot=True)]
        found += [lookups(sizes, by, hot=False, cached=n) for n in sizes.scaling]
    found += [
        state_churn(sizes),
        accessors(sizes),
        open_close(sizes),
        close_big(sizes),
        open_close(sizes, kdf=False),
        argon2id_run(sizes),
        export_strings(sizes),
        export_strings(sizes, plain=True),
        import_strings(sizes),
        import_strings(sizes, plain=True),
    ]
    return found


def _k(count: int) -> str:
    return f"{count // 1000}k" if count >= 1000 and count % 1000 == 0 else str(count)
