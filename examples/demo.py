"""session-vault in one minute, on the embedded default (a FileStorage in a temporary folder).

Writes a session, reads it back, moves it through a session string, then does the same
encrypted and shows that the file no longer holds the auth key. It prints what it did, never
a key, a passphrase or a plaintext session string.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from vault import EncryptedStorage
from vault.storage import FileStorage, MemoryStorage


def fingerprint(secret: bytes | str) -> str:
    """A short, one-way label to tell secrets apart in output without showing them."""
    data = secret.encode() if isinstance(secret, str) else secret
    return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


async def main() -> None:
    auth_key = os.urandom(256)  # stands in for the key a real login creates
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "sessions"

        print("1. FileStorage: write a session")
        storage = FileStorage("demo_account", workdir=workdir)
        await storage.open()
        await storage.dc_id(2)
        await storage.api_id(12345)
        await storage.test_mode(False)
        await storage.auth_key(auth_key)
        await storage.user_id(777000)
        await storage.is_bot(False)
        await storage.update_peers([(42, 4242, "user", "alice", "15550042")])
        await storage.save()
        await storage.close()
        mode = stat.S_IMODE(storage.database.stat().st_mode)
        print(f"   wrote {storage.database.name} with mode {mode:o} (owner only)")

        print("2. FileStorage: read it back")
        storage = FileStorage("demo_account", workdir=workdir)
        await storage.open()
        same = await storage.auth_key() == auth_key
        print(f"   dc_id={await storage.dc_id()} user_id={await storage.user_id()}")
        print(f"   auth key read back intact: {same} ({fingerprint(auth_key)})")
        print(f"   peer 'alice' -> {await storage.get_peer_by_username('alice')!r}")

        print("3. Session string: export, then resume in a MemoryStorage")
        text = await storage.export_session_string()
        await storage.close()
        memory = MemoryStorage(":memory:", session_string=text)
        await memory.open()
        same = await memory.auth_key() == auth_key
        await memory.close()
        print(f"   exported {len(text)} characters ({fingerprint(text)})")
        print(f"   imported into memory, auth key intact: {same}")

        print("4. EncryptedStorage: the same session, sealed with a passphrase")
        # A demo value; real code reads it from a secret store, e.g. os.environ.
        passphrase = os.environ.get("VAULT_PASSPHRASE", "demo-only passphrase")
        sealed = EncryptedStorage(
            FileStorage("sealed_account", workdir=workdir), passphrase=passphrase
        )
        await sealed.open()
        await sealed.import_session_string(text)
        encrypted_text = await sealed.export_session_string()
        await sealed.close()
        raw = (workdir / "sealed_account.session").read_bytes()
        print(f"   auth key present in the raw file: {auth_key in raw}")
        print(
            f"   encrypted session string: {len(encrypted_text)} characters, "
            f"starts with {encrypted_text.split(':', 1)[0]}:"
        )

        reopened = EncryptedStorage(
            FileStorage("sealed_account", workdir=workdir), passphrase=passphrase
        )
        await reopened.open()
        same = await reopened.auth_key() == auth_key
        await reopened.close()
        print(f"   reopened with the passphrase, auth key intact: {same}")
    print("done: the temporary folder is gone.")


if __name__ == "__main__":
    asyncio.run(main())
