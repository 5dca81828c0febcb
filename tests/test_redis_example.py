"""The custom backend example, ``examples/redis_storage.py``, beyond the contract suite (which
runs over it as ``redis-example`` and ``encrypted-redis-example``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from redis_storage import RedisStorage

from vault import EncryptedStorage
from vault.crypto import CHEAP_KDF

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "redis_storage.py"


async def test_wrapped_auth_key_reaches_redis_only_sealed(redis_client: Any) -> None:
    inner = RedisStorage("sealed", redis_client)
    storage = EncryptedStorage(inner, passphrase="pw", kdf=CHEAP_KDF)
    await storage.open()
    key = os.urandom(256)
    await storage.auth_key(key)
    await storage.close()

    stored = await redis_client.hget("vault:sealed:session", "auth_key")
    assert isinstance(stored, bytes) and len(stored) > 256
    assert key not in stored and key[:32] not in stored


async def test_delete_removes_every_key_of_the_session(redis_client: Any) -> None:
    keep = RedisStorage("keep", redis_client)
    doomed = RedisStorage("doomed", redis_client)
    for s in (keep, doomed):
        await s.open()
        await s.update_peers([(1, 1, "user", "one", "+1")])
        await s.update_usernames([(1, "uno")])
        await s.update_state((1, 1, 1, 1, 1))
    await doomed.delete()
    assert await redis_client.keys("vault:doomed:*") == []
    assert len(await redis_client.keys("vault:keep:*")) == 7
    await keep.close()


def test_the_example_runs_as_shipped(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url, "VAULT_PASSPHRASE": "correct horse"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    size = int(done.stdout.split("Redis holds a ")[1].split("-byte")[0])
    assert size > 256
