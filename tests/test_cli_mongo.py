"""``session-vault`` on sessions kept in MongoDB (``--mongo-uri``), driven through
``python -m vault`` in subprocesses against the real server of ``tests/servers.py``.

Sessions are made with :class:`~vault.storage.MongoStorage` and the stored documents are read
back with the driver itself, so every check is on what the server really holds.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from vault import decrypt_session_string
from vault.errors import CorruptedError
from vault.session_string import decode_session_string
from vault.storage import MongoStorage

from .cli_helpers import (
    CHEAP,
    assert_sealed,
    cli_env,
    error_lines,
    json_info,
    make_mongo_session,
    open_key,
    raw,
    run_cli,
)
from .servers import MongoClients

PASSPHRASE = "correct horse battery staple"
NEW_PASSPHRASE = "a new passphrase"


@pytest.fixture
def conn(mongo_clients: MongoClients) -> Any:
    return mongo_clients.connect("pymongo")


@pytest.fixture
def uri(mongo_clients: MongoClients) -> list[str]:
    """The URI options, through a variable as documented for URIs with a password."""
    return ["--mongo-uri-env", "TEST_MONGO_URI"]


@pytest.fixture
def env(mongo_clients: MongoClients) -> dict[str, str]:
    return cli_env(TEST_MONGO_URI=mongo_clients.server.uri, PW=PASSPHRASE, NEW_PW=NEW_PASSPHRASE)


@pytest.fixture
def shared(mongo_clients: MongoClients) -> str:
    """A shared-layout database that the test's cleanup drops."""
    return f"{mongo_clients.prefix}shared"


@pytest.fixture
def default_name(mongo_clients: MongoClients) -> str:
    """A default-layout session (its database has its name) that the cleanup drops."""
    return f"{mongo_clients.prefix}alice"


def cli(env: dict[str, str], *args: str) -> Any:
    return run_cli(*args, env=env)


@pytest.mark.parametrize("layout", ["default", "shared"])
async def test_encrypt_seals_the_stored_key_and_clients_still_open_it(
    layout: str, conn: Any, uri: list[str], env: dict[str, str], shared: str, default_name: str
) -> None:
    name, database = (default_name, None) if layout == "default" else ("bob", shared)
    where = ["--name", name] + (["--database", database] if database else [])
    key = await make_mongo_session(conn, name, database)
    before = await raw(conn, name, database)

    result = cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"encrypted MongoDB session {name!r}")
    assert "1 key slot: passphrase" in result.stdout
    after = await raw(conn, name, database)
    assert_sealed(after, key)
    assert "lease" not in after  # the command's lease was released
    assert {k: v for k, v in after.items() if k != "auth_key"} == {
        k: v for k, v in before.items() if k != "auth_key"
    }
    assert await open_key(conn, name, database, passphrase=PASSPHRASE) == key


async def test_an_encrypted_session_is_skipped_and_left_as_it_is(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    await make_mongo_session(conn, "bob", shared)
    where = ["--name", "bob", "--database", shared]
    assert cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP).returncode == 0
    sealed = await raw(conn, "bob", shared)

    again = cli(env, "encrypt", *uri, *where, "--passphrase-env", "NEW_PW", *CHEAP)

    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("skipped MongoDB session 'bob'")
    assert "already encrypted" in again.stdout
    assert await raw(conn, "bob", shared) == sealed


async def test_encrypt_all_walks_every_session_of_the_shared_database(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    keys = {name: await make_mongo_session(conn, name, shared) for name in ("s1", "s2", "s3", "s4")}
    await make_mongo_session(conn, "fresh", shared, logged_in=False)
    where = ["--database", shared, "--all"]
    pw = ["--passphrase-env", "PW", *CHEAP]
    one = cli(env, "encrypt", *uri, "--name", "s2", "--database", shared, *pw)
    assert one.returncode == 0, one.stderr

    result = cli(env, "encrypt", *uri, *where, *pw)

    # The session never logged in is refused (exit 7); the others are not stopped by it.
    assert result.returncode == 7, result.stderr
    assert "fresh" in " ".join(error_lines(result)) and "no auth key" in result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("'")[1] for line in lines] == ["s1", "s2", "s3", "s4"]
    assert lines[1].startswith("skipped") and all(
        lines[i].startswith("encrypted") for i in (0, 2, 3)
    )
    for name, key in keys.items():
        assert_sealed(await raw(conn, name, shared), key)
        assert await open_key(conn, name, shared, passphrase=PASSPHRASE) == key
    assert (await raw(conn, "fresh", shared))["auth_key"] is None


async def test_encrypt_all_needs_the_shared_layout(
    conn: Any, uri: list[str], env: dict[str, str], default_name: str
) -> None:
    await make_mongo_session(conn, default_name)

    result = cli(
        env, "encrypt", *uri, "--database", default_name, "--all", "--passphrase-env", "PW", *CHEAP
    )

    assert result.returncode == 6
    assert "not in the shared layout" in result.stderr
    assert len((await raw(conn, default_name))["auth_key"]) == 256


async def test_info_describes_the_session_without_the_key(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    key = await make_mongo_session(conn, "bob", shared)
    where = ["--name", "bob", "--database", shared]
    plain = cli(env, "info", *uri, *where)
    assert plain.returncode == 0, plain.stderr
    assert "encryption:     NONE" in plain.stdout
    assert "shared layout" in plain.stdout

    cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)
    result = cli(env, "info", *uri, *where, "--json")
    facts = json_info(result)
    assert facts["database"] == shared and facts["layout"] == "shared"
    assert facts["encrypted"] is True and facts["encryption"]["bound_to"] == "bob"
    assert [s["type"] for s in facts["encryption"]["slots"]] == ["passphrase"]
    assert (facts["dc_id"], facts["user_id"], facts["peers"]) == (4, 5000000001, 1)
    assert key.hex() not in result.stdout + plain.stdout


async def test_export_and_passwd(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    key = await make_mongo_session(conn, "bob", shared)
    where = ["--name", "bob", "--database", shared]
    cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)

    exported = cli(env, "export", *uri, *where, "--passphrase-env", "PW")
    assert exported.returncode == 0, exported.stderr
    string = exported.stdout.strip()
    assert (
        decode_session_string(decrypt_session_string(string, passphrase=PASSPHRASE)).auth_key == key
    )

    changed = cli(
        env,
        "passwd",
        *uri,
        *where,
        "--passphrase-env",
        "PW",
        "--new-passphrase-env",
        "NEW_PW",
        *CHEAP,
    )
    assert changed.returncode == 0, changed.stderr
    assert (
        changed.stdout.strip()
        == f"changed the passphrase of MongoDB session 'bob' in database {shared!r}"
    )
    assert_sealed(await raw(conn, "bob", shared), key)
    assert await open_key(conn, "bob", shared, passphrase=NEW_PASSPHRASE) == key
    old = cli(env, "export", *uri, *where, "--passphrase-env", "PW")
    assert old.returncode == 3


async def test_a_wrong_passphrase_changes_nothing(
    conn: Any, uri: list[str], env: dict[str, str], default_name: str
) -> None:
    await make_mongo_session(conn, default_name)
    where = ["--name", default_name]
    cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)
    sealed = await raw(conn, default_name)
    wrong = {**env, "PW": "not the passphrase", "RAW": os.urandom(32).hex()}

    for command in (
        ["passwd", "--new-passphrase-env", "NEW_PW", *CHEAP],
        ["add-key", "raw-key", "--new-key-env", "RAW"],
        ["remove-key", "0"],
        ["decrypt", "--confirm-plaintext"],
        ["export"],
        ["export", "--plain"],
    ):
        result = cli(wrong, *command, *uri, *where, "--passphrase-env", "PW")
        assert result.returncode == 3, (command, result.stderr)
        assert len(error_lines(result)) == 1, result.stderr
        assert await raw(conn, default_name) == sealed, command


async def test_raw_key_slots_and_decrypt_round_trip(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    key = await make_mongo_session(conn, "bob", shared)
    where = ["--name", "bob", "--database", shared]
    raw_key = os.urandom(32)
    keyed = {**env, "RAW": raw_key.hex()}
    cli(keyed, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)

    added = cli(
        keyed, "add-key", "raw-key", *uri, *where, "--passphrase-env", "PW", "--new-key-env", "RAW"
    )
    assert added.returncode == 0, added.stderr
    assert "(2 key slots: passphrase, raw-key)" in added.stdout
    removed = cli(keyed, "remove-key", "0", *uri, *where, "--key-env", "RAW")
    assert removed.returncode == 0, removed.stderr
    assert await open_key(conn, "bob", shared, key=raw_key) == key

    refused = cli(keyed, "decrypt", *uri, *where, "--key-env", "RAW")
    assert refused.returncode == 2
    assert_sealed(await raw(conn, "bob", shared), key)
    done = cli(keyed, "decrypt", *uri, *where, "--key-env", "RAW", "--confirm-plaintext")
    assert done.returncode == 0, done.stderr
    assert bytes((await raw(conn, "bob", shared))["auth_key"]) == key


async def test_a_session_held_by_a_running_client_is_not_touched(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    await make_mongo_session(conn, "bob", shared)
    client = MongoStorage("bob", conn, database=shared, lease=True)
    await client.open()
    try:
        before = await raw(conn, "bob", shared)
        result = cli(
            env,
            "encrypt",
            *uri,
            "--name",
            "bob",
            "--database",
            shared,
            "--passphrase-env",
            "PW",
            *CHEAP,
        )
        assert result.returncode == 5, result.stderr
        assert "open in another process" in result.stderr
        assert (await raw(conn, "bob", shared))["auth_key"] == before["auth_key"]
    finally:
        await client.close()


async def test_a_missing_session_is_not_found_and_not_created(
    conn: Any, uri: list[str], env: dict[str, str], mongo_clients: MongoClients, shared: str
) -> None:
    await make_mongo_session(conn, "bob", shared)
    missing = f"{mongo_clients.prefix}nobody"
    for where in (["--name", missing], ["--name", "nobody", "--database", shared]):
        result = cli(env, "encrypt", *uri, *where, "--passphrase-env", "PW", *CHEAP)
        assert result.returncode == 4, result.stderr
        assert "no MongoDB session" in result.stderr
    # No document was written (nx-27017, unlike MongoDB, lists a database once it is read).
    for collection in ("session", "peers", "usernames", "update_state"):
        assert await conn[missing][collection].count_documents({}) == 0
    assert await conn[shared].session.count_documents({}) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["info", "--name", "x"],
        ["info", "some.session", "--mongo-uri", "mongodb://127.0.0.1"],
        ["info", "--mongo-uri", "mongodb://127.0.0.1"],
        ["encrypt", "--mongo-uri", "mongodb://127.0.0.1", "--all"],
        [
            "encrypt",
            "--mongo-uri",
            "mongodb://127.0.0.1",
            "--all",
            "--database",
            "d",
            "--name",
            "x",
        ],
        ["info", "--mongo-uri", "http://127.0.0.1", "--name", "x"],
        ["info", "--mongo-uri-env", "VAULT_TEST_UNSET_VARIABLE", "--name", "x"],
    ],
)
def test_inconsistent_options_are_usage_errors(args: list[str]) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("password", ["s3cr3t-pw", "p%40ss%3Aword"])
def test_the_uri_password_never_reaches_the_output(password: str) -> None:
    """A server that is not there: the error names the host, never the password, even with
    --debug (whose traceback and logs are printed too)."""
    uri = f"mongodb://user:{password}@127.0.0.1:1/?serverSelectionTimeoutMS=300"
    result = run_cli("--debug", "info", "--mongo-uri", uri, "--name", "x")
    assert result.returncode == 1
    assert "cannot reach the MongoDB server" in result.stderr
    output = result.stdout + result.stderr
    for secret in (password, password.replace("%40", "@").replace("%3A", ":")):
        assert secret not in output


async def test_info_and_the_library_agree_on_a_256_byte_value_with_the_magic(
    conn: Any, uri: list[str], env: dict[str, str], shared: str
) -> None:
    """As for files: 256 bytes starting with the envelope magic are refused as damaged by
    ``info`` just as the library refuses them, not shown as a key stored in the clear."""
    await make_mongo_session(conn, "bob", shared)
    forged = b"SVLT" + bytes([2]) + os.urandom(251)
    await conn[shared].session.update_one({"_id": "bob"}, {"$set": {"auth_key": forged}})
    with pytest.raises(CorruptedError) as library:
        await open_key(conn, "bob", shared, passphrase=PASSPHRASE)

    result = cli(env, "info", *uri, "--name", "bob", "--database", shared)

    assert result.returncode == 6, result.stderr
    [line] = error_lines(result)
    assert " ".join(str(library.value).split()) in line
    assert result.stdout == ""
    assert (await raw(conn, "bob", shared))["auth_key"] == forged
