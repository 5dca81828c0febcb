"""Real database servers for the tests, started on 127.0.0.1 at a free port.

MongoDB: ``nx-27017`` (a MongoDB wire-protocol server on SQLite, from the dev extra), or the
server at ``MONGODB_URI`` when that is set. Redis: Debian's ``redis-server``, without
persistence. A missing server binary fails the tests when ``CI=true`` and skips them otherwise.
"""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import async_pymongo
import motor.motor_asyncio
import pymongo
import pytest
import redis
import redis.asyncio

MONGO_DRIVERS = ("pymongo", "motor", "async-pymongo")
START_TIMEOUT = 30.0


def _unavailable(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(argv: list[str], log: Path, ready: Callable[[], bool]) -> subprocess.Popen[bytes]:
    """Start a server and wait until ``ready()`` answers; fail with its log if it never does."""
    process = subprocess.Popen(
        argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if ready():
                return process
        except Exception:  # not listening yet
            time.sleep(0.1)
    _stop(process)
    pytest.fail(f"{argv[0]} did not start; its log:\n{log.read_text()[-3000:]}", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- MongoDB -----------------------------------------------------------------------------------


@dataclass
class MongoServer:
    """A MongoDB server for this test run. Databases the tests create start with ``prefix``."""

    uri: str
    prefix: str


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    """The server at ``MONGODB_URI``, or an ``nx-27017`` started for this run."""
    prefix = f"vt{uuid.uuid4().hex[:8]}_"
    uri = os.environ.get("MONGODB_URI")
    process = None
    if not uri:
        # The dev extra installs it beside this interpreter, which need not be on PATH.
        beside = Path(sys.executable).parent / "nx-27017"
        binary = str(beside) if beside.exists() else shutil.which("nx-27017")
        if binary is None:
            _unavailable("nx-27017 is not installed: pip install -e '.[dev]' (or set MONGODB_URI)")
        workdir = tmp_path_factory.mktemp("nx-27017")
        port = _free_port()
        uri = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=5000"
        argv = [str(binary), "--host", "127.0.0.1", "-p", str(port), "--data-dir", "memory"]
        argv += ["--log-file", str(workdir / "server.log"), "--pid-file", str(workdir / "pid")]
        probe: pymongo.MongoClient[Any] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=500)

        def ping() -> bool:
            return bool(probe.admin.command("ping")["ok"])

        try:
            process = _start(argv, workdir / "stdout.log", ping)
        finally:
            probe.close()
    try:
        yield MongoServer(uri, prefix)
    finally:
        if process is not None:
            _stop(process)
        else:
            with pymongo.MongoClient(uri) as client:
                for name in client.list_database_names():
                    if name.startswith(prefix):
                        client.drop_database(name)


@dataclass
class MongoClients:
    """Async clients of every driver for one test; closed, and the test's databases dropped,
    at its end. Database names of the test start with ``prefix``."""

    server: MongoServer
    prefix: str
    opened: list[Any] = field(default_factory=list)

    def connect(self, driver: str) -> Any:
        """A new client of ``driver`` (one of :data:`MONGO_DRIVERS`) to the test server."""
        if driver == "pymongo":
            client: Any = pymongo.AsyncMongoClient(self.server.uri)
        elif driver == "motor":
            client = motor.motor_asyncio.AsyncIOMotorClient(self.server.uri)
        elif driver == "async-pymongo":
            client = async_pymongo.AsyncClient(self.server.uri)
        else:
            raise ValueError(f"unknown MongoDB driver {driver!r}")
        self.opened.append(client)
        return client


@pytest.fixture
async def mongo_clients(mongo_server: MongoServer) -> AsyncIterator[MongoClients]:
    """Clients of every driver to the test server, cleaned up after the test."""
    clients = MongoClients(mongo_server, f"{mongo_server.prefix}{uuid.uuid4().hex[:6]}_")
    try:
        yield clients
    finally:
        admin = clients.connect("pymongo")
        for name in await admin.list_database_names():
            if name.startswith(clients.prefix):
                await admin.drop_database(name)
        for client in clients.opened:
            closed = client.close()  # a coroutine for pymongo and async-pymongo, not for motor
            if inspect.isawaitable(closed):
                await closed


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``redis-server`` on 127.0.0.1 for this run: no snapshots, no append-only file."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed: apt-get install -y redis-server")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    argv = [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    argv += ["--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"]
    probe = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    try:
        process = _start(argv, workdir / "server.log", lambda: bool(probe.ping()))
    finally:
        probe.close()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    """A ``redis.asyncio`` client to the test server; the database is emptied after the test.

    Its pool waits for a free connection, as ``docs/custom-backend.md`` advises: clients issue
    hundreds of storage calls at once, more than redis-py's default pool allows.
    """
    pool = redis.asyncio.BlockingConnectionPool.from_url(redis_url, max_connections=16)
    client = redis.asyncio.Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()
