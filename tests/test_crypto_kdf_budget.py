"""The Argon2id work an unlock may spend before anything is authenticated (``kdf_budget``), and
the floor under new KDF settings. A slot's costs are read from the stored data, so whoever can
write it chooses them: over-budget slots must be skipped before Argon2id runs. Argon2id is
wrapped by a counter (our own hook on the one function that runs it), so each test states how
many runs happened; the forged costs would take minutes and GiBs if they ran."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage, decrypt_session_string, encrypt_session_string
from vault.crypto import (
    CHEAP_KDF,
    DEFAULT_KDF,
    DEFAULT_KDF_BUDGET,
    MIN_MEMORY_KIB,
    MIN_WORK,
    KdfBudget,
    KdfParams,
)
from vault.crypto import kdf as kdf_module
from vault.crypto.envelope import MAX_SLOTS, Purpose, parse
from vault.crypto.keyset import Keyset
from vault.crypto.slots import Credentials, PassphraseSlot
from vault.crypto.strings import seal_session
from vault.errors import KdfBudgetError, VaultError, WrongKeyError
from vault.session_string import (
    ENCRYPTED_PREFIX,
    SessionData,
    decode_session_string,
    encode_session_string,
)
from vault.storage import FileStorage

from .tampering import with_check

AUTH_KEY = bytes(range(256))
PLAIN = encode_session_string(SessionData(2, 12345, False, AUTH_KEY, 42, False))
#: Within the format's caps, so parsing accepts it: 16 passes over 2 GiB, one lane.
HOSTILE = KdfParams(time_cost=16, memory_cost=2 * 1024 * 1024, parallelism=1)
TINY = KdfParams(time_cost=2, memory_cost=16, parallelism=1, allow_weak=True)


@pytest.fixture
def kdf_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every Argon2id run as (time_cost, memory_cost); a hostile one fails instead of running."""
    runs: list[tuple[int, int]] = []
    real = kdf_module.hash_secret_raw

    def counted(**kwargs: Any) -> bytes:
        runs.append((kwargs["time_cost"], kwargs["memory_cost"]))
        if kwargs["memory_cost"] > DEFAULT_KDF_BUDGET.memory_cost:
            raise AssertionError("Argon2id ran on costs from a forged header")
        return real(**kwargs)

    monkeypatch.setattr(kdf_module, "hash_secret_raw", counted)
    return runs


def with_costs(envelope: bytes, purpose: Purpose, costs: Callable[[int], KdfParams]) -> bytes:
    """``envelope`` with the costs of passphrase slot ``i`` replaced by ``costs(i)``, and a
    recomputed check (an attacker can recompute the unkeyed check)."""
    parsed = parse(envelope, purpose)
    slots = tuple(
        PassphraseSlot(s.salt, costs(i), s.wrapped) if isinstance(s, PassphraseSlot) else s
        for i, s in enumerate(parsed.header.slots)
    )
    header = dataclasses.replace(parsed.header, slots=slots)  # the rest as it was
    return with_check(header.encode() + parsed.sealed)


def string_with_slots(count: int, kdf: KdfParams = CHEAP_KDF) -> str:
    """An encrypted string whose passphrase ``pw0`` opens slot 0, ``pw1`` slot 1, ..."""
    keyset = Keyset.create(Credentials.from_args(passphrase="pw0"), kdf)
    for i in range(1, count):
        keyset.add_passphrase(bytearray(f"pw{i}".encode()), kdf)
    try:
        return seal_session(keyset, decode_session_string(PLAIN))
    finally:
        keyset.wipe()


def forged_string(text: str, costs: Callable[[int], KdfParams]) -> str:
    body = text[len(ENCRYPTED_PREFIX) :]
    data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = with_costs(data, Purpose.SESSION_STRING, costs)
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(forged).decode().rstrip("=")


def test_forged_eight_slot_string_runs_no_kdf(kdf_runs: list[tuple[int, int]]) -> None:
    forged = forged_string(string_with_slots(MAX_SLOTS), lambda i: HOSTILE)
    kdf_runs.clear()
    with pytest.raises(KdfBudgetError) as caught:
        decrypt_session_string(forged, passphrase="pw3")
    assert kdf_runs == []
    message = str(caught.value)
    assert "8 passphrase slot(s)" in message and "kdf_budget" in message
    assert "t=16 m=2097152 KiB" in message and "pw3" not in message


async def test_forged_eight_slot_session_file_opens_no_kdf(
    kdf_runs: list[tuple[int, int]], tmp_path: Path
) -> None:
    storage = EncryptedStorage(FileStorage("s", workdir=tmp_path), passphrase="pw", kdf=CHEAP_KDF)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    for i in range(1, MAX_SLOTS):
        await storage.add_passphrase(f"pw{i}")
    await storage.close()
    inner = FileStorage("s", workdir=tmp_path)
    inner.expects_envelopes = True  # to read and forge the envelope itself
    await inner.open()
    stored = await inner.auth_key()
    assert stored is not None
    await inner.auth_key(with_costs(stored, Purpose.AUTH_KEY, lambda i: HOSTILE))
    await inner.close()
    kdf_runs.clear()
    opened = EncryptedStorage(FileStorage("s", workdir=tmp_path), passphrase="pw")
    with pytest.raises(KdfBudgetError, match="kdf_budget"):
        await opened.open()
    assert kdf_runs == []


def test_budget_is_a_total_over_the_slots_tried(kdf_runs: list[tuple[int, int]]) -> None:
    """Three slots of 32 KiB-passes each; the passphrase opens the third."""
    text = string_with_slots(3, TINY)
    kdf_runs.clear()
    with pytest.raises(KdfBudgetError, match="1 passphrase slot"):
        decrypt_session_string(text, passphrase="pw2", kdf_budget=KdfBudget(16, 2 * TINY.work))
    assert kdf_runs == [(2, 16), (2, 16)]
    kdf_runs.clear()
    budget = KdfBudget.admitting(TINY, TINY, TINY)
    assert decrypt_session_string(text, passphrase="pw2", kdf_budget=budget) == PLAIN
    assert len(kdf_runs) == 3


def test_a_caller_who_raised_the_kdf_raises_the_budget(kdf_runs: list[tuple[int, int]]) -> None:
    small = KdfBudget(memory_cost=8, work=8)
    text = string_with_slots(1, TINY)
    kdf_runs.clear()
    with pytest.raises(KdfBudgetError, match=r"KdfBudget\.admitting"):
        decrypt_session_string(text, passphrase="pw0", kdf_budget=small)
    assert kdf_runs == []
    assert decrypt_session_string(text, passphrase="pw0", kdf_budget=KdfBudget.admitting(TINY))
    assert kdf_runs == [(2, 16)]


def test_wrong_passphrase_within_budget_is_still_wrong_key(kdf_runs: list[tuple[int, int]]) -> None:
    with pytest.raises(WrongKeyError):
        decrypt_session_string(string_with_slots(2), passphrase="nope")
    assert len(kdf_runs) == 4  # two to make the string, two tried


def test_default_budget_admits_the_defaults_with_margin() -> None:
    budget = DEFAULT_KDF_BUDGET
    assert all(budget.admits(DEFAULT_KDF, spent=i * DEFAULT_KDF.work) for i in range(4))
    assert not budget.admits(DEFAULT_KDF, spent=4 * DEFAULT_KDF.work)
    assert budget.admits(KdfParams(3, 256 * 1024, 4))
    assert not budget.admits(KdfParams(1, 256 * 1024 + 1, 4))
    assert not budget.admits(HOSTILE)


async def test_storage_refuses_a_kdf_its_budget_would_not_open(tmp_path: Path) -> None:
    big = KdfParams(time_cost=1, memory_cost=512 * 1024, parallelism=4)
    with pytest.raises(ValueError, match=r"kdf_budget=KdfBudget\.admitting\(kdf\)"):
        EncryptedStorage(FileStorage("s", workdir=tmp_path), passphrase="pw", kdf=big)
    EncryptedStorage(
        FileStorage("s", workdir=tmp_path),
        passphrase="pw",
        kdf=big,
        kdf_budget=KdfBudget.admitting(big),
    )
    with pytest.raises(TypeError, match="KdfBudget"):
        EncryptedStorage(FileStorage("s", workdir=tmp_path), key=bytes(32), kdf_budget=DEFAULT_KDF)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"memory_cost": 0, "work": 1}, {"memory_cost": 1, "work": -5}])
def test_budget_values_are_checked(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="positive int"):
        KdfBudget(**bad)


def test_budget_error_is_a_vault_error() -> None:
    assert issubclass(KdfBudgetError, VaultError)
    assert not issubclass(KdfBudgetError, WrongKeyError)


# --- the floor for new settings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_cost", "memory_cost"), [(1, 8), (3, 1024), (1, MIN_MEMORY_KIB), (1, MIN_MEMORY_KIB - 1)]
)
def test_kdf_below_the_floor_is_refused(time_cost: int, memory_cost: int) -> None:
    with pytest.raises(ValueError, match="below the floor") as caught:
        KdfParams(time_cost, memory_cost, 1)
    assert "allow_weak=True in tests only" in str(caught.value)


def test_a_one_character_passphrase_with_a_weak_kdf_is_refused() -> None:
    with pytest.raises(ValueError, match="below the floor"):
        encrypt_session_string(PLAIN, passphrase="x", kdf=KdfParams(1, 8, 1))


@pytest.mark.parametrize(
    ("time_cost", "memory_cost"), [(2, MIN_MEMORY_KIB), (1, MIN_WORK), (3, 64 * 1024)]
)
def test_kdf_at_the_floor_is_accepted(time_cost: int, memory_cost: int) -> None:
    assert KdfParams(time_cost, memory_cost, 1).work >= MIN_WORK


def test_weak_settings_are_an_explicit_test_opt_in() -> None:
    assert CHEAP_KDF.allow_weak and not DEFAULT_KDF.allow_weak
    assert KdfParams(1, 8, 1, allow_weak=True) == CHEAP_KDF  # the opt-in is not part of equality


def test_stored_weak_costs_still_open() -> None:
    """The floor binds writers of new slots; a slot written weak (by tests, or an older
    version) still opens."""
    assert decrypt_session_string(string_with_slots(1), passphrase="pw0") == PLAIN
