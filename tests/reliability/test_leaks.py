"""No leaks: with DEBUG logging on, secrets never reach logs, reprs, errors or tracebacks, and
everything vault creates on disk is owner-only. Also the best-effort wiping of keys on close."""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
import traceback
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

from vault import EncryptedStorage, MemoryStorage, decrypt_session_string, encrypt_session_string
from vault.crypto import CHEAP_KDF
from vault.session_string import SessionData, decode_session_string, encode_session_string
from vault.storage import FileStorage

from .. import leak_watch
from ..tampering import store_auth_key, stored_auth_key
from ._support import ROOT, Tally

AUTH_KEY = os.urandom(256)
RAW_KEY = os.urandom(32)
PASSPHRASE = "leak-canary passphrase 7f3a"
PLAIN = encode_session_string(SessionData(2, 611335, False, AUTH_KEY, 987654321, False))
ENCRYPTED = encrypt_session_string(PLAIN, passphrase=PASSPHRASE, kdf=CHEAP_KDF)


def needles(secret: bytes | str) -> list[str]:
    """Ways a secret could show up in text: as is, hex, base64, urlsafe base64, bytes repr;
    whole and in aligned pieces, so a partial leak is caught too."""
    if isinstance(secret, str):
        return [secret, secret[:24]]
    found = []
    for at in range(0, len(secret), 24):
        piece = secret[at : at + 24]
        if len(piece) < 12:
            continue
        found += [
            piece.hex(),
            piece.hex().upper(),
            base64.b64encode(piece).decode(),
            base64.urlsafe_b64encode(piece).decode(),
            repr(piece)[2:40],
        ]
    return found


class Scanner:
    """Collects every text an operation produced and looks for secrets in it."""

    def __init__(self, secrets: dict[str, bytes | str]) -> None:
        self.needles = {name: needles(value) for name, value in secrets.items()}
        self.texts: list[str] = []

    def add(self, *objects: Any) -> None:
        for obj in objects:
            if isinstance(obj, BaseException):
                self.texts += [str(obj), repr(obj), "".join(traceback.format_exception(obj))]
            elif isinstance(obj, str):
                self.texts.append(obj)
            else:
                self.texts += [repr(obj), str(obj)]

    async def run(self, operation: Awaitable[Any]) -> Any:
        """Await ``operation``; scan the error it raises, if any (the result is not scanned:
        some results are meant to be secret)."""
        try:
            return await operation
        except Exception as error:
            self.add(error)
            return None

    def add_logs(self, records: list[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in records:
            self.add(formatter.format(record), repr(record.args))

    def leaks(self) -> list[str]:
        return [
            f"{name} in {text[:80]!r}"
            for text in self.texts
            for name, found in self.needles.items()
            if any(needle in text for needle in found)
        ]


async def _library_operations(tmp_path: Path, scan: Scanner) -> None:
    """Storage, encrypted storage and session string operations, good and failing."""
    plain = FileStorage("plain", workdir=tmp_path / "sessions")
    await plain.open()
    await plain.import_session_string(PLAIN)
    await scan.run(plain.import_session_string(PLAIN[:-1] + ("A" if PLAIN[-1] != "A" else "B")))
    await scan.run(plain.import_session_string(PLAIN[:200]))
    await scan.run(FileStorage("plain", workdir=tmp_path / "sessions").open())
    scan.add(plain, await plain.session_data(), await plain.auth_key() and "read")
    await plain.close()

    not_migrated = EncryptedStorage(
        FileStorage("plain", workdir=tmp_path / "sessions"), passphrase=PASSPHRASE, kdf=CHEAP_KDF
    )
    await scan.run(not_migrated.open())  # a plaintext session, refused
    secure = await EncryptedStorage.encrypt_plaintext(
        FileStorage("plain", workdir=tmp_path / "sessions"),
        passphrase=PASSPHRASE,
        key=RAW_KEY,
        kdf=CHEAP_KDF,
    )
    scan.add(secure, secure.key_slots, await secure.export_session_string())
    await secure.export_plain_session_string()  # the result is the secret itself: not scanned
    await secure.add_passphrase(PASSPHRASE + "2", kdf=CHEAP_KDF)
    await scan.run(secure.remove_slot(99))
    await scan.run(secure.import_session_string("vault1:" + "A" * 500))
    await secure.close()
    await scan.run(secure.auth_key())

    for wrong in ({"passphrase": "wrong"}, {"key": bytes(32)}):
        storage = EncryptedStorage(
            FileStorage("plain", workdir=tmp_path / "sessions"),
            kdf=CHEAP_KDF,
            **wrong,
        )
        await scan.run(storage.open())
        scan.add(storage)
    database = tmp_path / "sessions" / "plain.session"
    envelope = stored_auth_key(database) or b""
    store_auth_key(database, envelope[:-1] + bytes([envelope[-1] ^ 1]))
    await scan.run(
        EncryptedStorage(
            FileStorage("plain", workdir=tmp_path / "sessions"),
            passphrase=PASSPHRASE,
            kdf=CHEAP_KDF,
        ).open()
    )
    store_auth_key(database, envelope)

    encrypted = ENCRYPTED
    scan.add(encrypted)
    for attempt in (
        lambda: decrypt_session_string(encrypted, passphrase="wrong"),
        lambda: decrypt_session_string(encrypted[:-3], passphrase=PASSPHRASE),
        lambda: decode_session_string(PLAIN + "!"),
        lambda: decode_session_string(encrypted),
        lambda: encrypt_session_string(PLAIN[:-2], passphrase=PASSPHRASE, kdf=CHEAP_KDF),
    ):
        try:
            attempt()
        except Exception as error:
            scan.add(error)
    memory = MemoryStorage("m", session_string=PLAIN)
    await memory.open()
    scan.add(memory, await memory.session_data())
    await memory.close()
    loaded = EncryptedStorage(MemoryStorage("m"), passphrase=PASSPHRASE, session_string=encrypted)
    await loaded.open()
    scan.add(loaded)
    await loaded.close()


def _cli(
    args: list[str], workdir: Path, stdin: str = "", *, secret_stdout: bool = False
) -> tuple[str, str]:
    """Run ``session-vault --debug ARGS`` for real; return (stdout, stderr), stdout blanked
    when it is meant to carry a secret."""
    cheap = ["--kdf-time-cost", "1", "--kdf-memory-kib", "8", "--kdf-parallelism", "1"]
    env = {**os.environ, "PW": PASSPHRASE, "PW2": PASSPHRASE + "!", "WRONG": "wrong"}
    env["PYTHONPATH"] = str(ROOT)
    needs_kdf = args[0] in {"encrypt", "import", "passwd"} or args[:2] == ["string", "encrypt"]
    done = subprocess.run(
        [sys.executable, "-m", "vault", "--debug", *args, *(cheap if needs_kdf else [])],
        cwd=workdir,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return ("" if secret_stdout else done.stdout), done.stderr


async def _cli_operations(tmp_path: Path, scan: Scanner) -> int:
    workdir = tmp_path / "cli"
    storage = FileStorage("bot", workdir=workdir)
    await storage.open()
    await storage.import_session_string(PLAIN)
    await storage.close()
    runs = [
        (["encrypt", "bot.session", "--passphrase-env", "PW"], "", False),
        (["info", "bot.session"], "", False),
        (["export", "bot.session", "--passphrase-env", "PW"], "", False),
        (["export", "bot.session", "--passphrase-env", "WRONG"], "", False),
        (["export", "bot.session", "--plain", "--passphrase-env", "PW"], "", True),
        (
            ["passwd", "bot.session", "--passphrase-env", "PW", "--new-passphrase-env", "PW2"],
            "",
            False,
        ),
        (["string", "encrypt", "--passphrase-env", "PW"], PLAIN + "\n", False),
        (["string", "decrypt", "--passphrase-env", "PW"], PLAIN + "\n", False),
        (["string", "decrypt", "--passphrase-env", "PW"], ENCRYPTED + "\n", True),
        (["string", "decrypt", "--passphrase-env", "WRONG"], ENCRYPTED + "\n", False),
        (["import", "--out", "new.session", "--passphrase-env", "PW"], PLAIN + "\n", False),
        (["import", "--out", "bad.session", "--passphrase-env", "PW"], PLAIN[:-5] + "\n", False),
    ]
    for args, stdin, secret in runs:
        scan.add(*_cli(args, workdir, stdin, secret_stdout=secret))
    return len(runs)


async def test_no_secret_in_logs_reprs_errors_or_tracebacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tally: Tally
) -> None:
    caplog.set_level(logging.DEBUG)
    scan = Scanner(
        {
            "auth key": AUTH_KEY,
            "raw key": RAW_KEY,
            "passphrase": PASSPHRASE,
            "session string": PLAIN,
        }
    )
    await _library_operations(tmp_path, scan)
    cli_runs = await _cli_operations(tmp_path, scan)
    scan.add_logs(caplog.records)
    # (SQL no longer goes through aiosqlite, whose DEBUG records were most of them.)
    debug = [
        r for r in caplog.records if r.levelno == logging.DEBUG and r.name.startswith("vault.")
    ]
    assert len(debug) >= 3, "DEBUG logging did not capture the operations"
    assert scan.leaks() == []
    # The scanner itself must see a secret where there is one.
    scan.add(f"oops {AUTH_KEY.hex()[:48]}")
    assert scan.leaks()
    tally.record(
        "no_leak_scan",
        texts=len(scan.texts) - 1,
        log_records=len(caplog.records),
        cli_runs=cli_runs,
        needles=sum(map(len, scan.needles.values())),
    )


def _loose_modes(root: Path) -> list[str]:
    return [
        f"{path} {stat.S_IMODE(path.stat().st_mode):o}"
        for path in [root, *root.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) & 0o077
    ]


async def test_files_and_directories_are_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical umask: vault must not rely on the user's
    try:
        root = tmp_path / "made" / "by" / "vault"
        storage = EncryptedStorage(
            FileStorage("s", workdir=root), passphrase=PASSPHRASE, kdf=CHEAP_KDF
        )
        await storage.open()
        await storage.auth_key(AUTH_KEY)
        await storage.update_peers([(1, 2, "user", "u", None)])
        assert {p.name for p in root.iterdir()} >= {"s.session", "s.session-wal"}
        assert _loose_modes(tmp_path / "made") == []
        await storage.close()
        await _cli_operations(tmp_path, Scanner({}))
        assert (tmp_path / "cli" / "new.session").exists()
        assert _loose_modes(tmp_path / "made") == []
        created_by_cli = [p for p in (tmp_path / "cli").iterdir() if p.name != "bot.session"]
        assert created_by_cli
        assert [m for p in created_by_cli for m in _loose_modes(p)] == []
    finally:
        os.umask(old)


async def test_keys_are_wiped_on_close(tmp_path: Path) -> None:
    """White-box, best effort (see SECURITY.md): the bytearrays vault held are zero after
    close(); copies Python made elsewhere cannot be reached."""
    storage = EncryptedStorage(MemoryStorage("m"), key=RAW_KEY, kdf=CHEAP_KDF)
    await storage.open()
    await storage.auth_key(AUTH_KEY)
    assert await storage.auth_key() == AUTH_KEY
    assert storage._sealed is not None
    sealer = storage._sealed.sealer
    held = [sealer.keyset._dek, storage._args._key, sealer._plain]  # _plain: the auth key
    assert all(isinstance(b, bytearray) and any(b) for b in held)
    await storage.close()
    assert all(b is not None and not any(b) for b in held)


def test_the_suite_wide_leak_watch_can_fail() -> None:
    """The watch over every vault log record of the run (``tests/leak_watch.py``) flags a
    known constant and anything shaped like a key, and passes ordinary text."""
    assert leak_watch.leaks([f"opened with {PASSPHRASE}"])
    assert leak_watch.leaks([f"key={os.urandom(64).hex()}"])
    assert leak_watch.leaks([f"string {PLAIN}"])
    assert leak_watch.leaks([f"args ({os.urandom(40)!r},)"])
    assert not leak_watch.leaks(["opened FileStorage('s') at /tmp/x/s.session, 2 slots"])
