"""Compatibility sessions: vault against each real Pyrogram-family client from PyPI.

Pyrogram, Pyrofork, Kurigram and Irenogram all install the same ``pyrogram`` import package,
so each client gets its own virtual environment. Every session installs vault (editable), the
client at the version tested, and pytest, then runs ``tests/compat/``; the Pyrofork session
also runs the contract suite (``tests/test_contract.py``), so peer lookups are checked with
real ``raw.types`` objects. ``compat-telethon`` runs ``tests/telethon/`` against Telethon.

    nox                      # every session (what CI runs)
    nox -R -s compat-pyrofork  # one session, reusing its venv and skipping the installs
"""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

#: Session name -> the client requirement tested (the versions docs/compat.md names).
CLIENTS: dict[str, str] = {
    "pyrofork": "pyrofork==2.3.69",
    "pyrogram": "Pyrogram==2.0.106",
    "kurigram": "kurigram==2.2.26",
    "irenogram": "irenogram==2.3.90",
    "hydrogram": "hydrogram==0.2.0",
}

TEST_REQUIREMENTS = ("pytest>=8", "pytest-asyncio>=0.24")
#: tests/conftest.py imports what the main test run installs (the dev extra).
CONTRACT_REQUIREMENTS = ("-e", ".[dev]")
#: The contract suite runs over the SQLite-family backends here: the server backends are
#: covered by the main test run, which starts the servers.
CONTRACT_BACKENDS = "not mongo and not redis"


def _compat_session(client: str, requirement: str) -> None:
    @nox.session(name=f"compat-{client}")
    def compat(session: nox.Session) -> None:
        extra = CONTRACT_REQUIREMENTS if client == "pyrofork" else ()
        session.install("-e", ".", requirement, *TEST_REQUIREMENTS, *extra)
        env = {"VAULT_COMPAT_CLIENT": client}
        pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
        # tests/conftest.py sets up every backend (servers included); compat tests need none.
        session.run(*pytest, "--noconftest", "tests/compat/", *session.posargs, env=env)
        if client == "pyrofork":
            contract = ("tests/test_contract.py", "-k", CONTRACT_BACKENDS)
            session.run(*pytest, *contract, *session.posargs, env=env)


for _client, _requirement in CLIENTS.items():
    _compat_session(_client, _requirement)

#: The Telethon version tested (the one docs/compat.md and docs/telethon.md name).
TELETHON = "telethon==1.45.0"


@nox.session(name="compat-telethon")
def compat_telethon(session: nox.Session) -> None:
    session.install("-e", ".", TELETHON, *TEST_REQUIREMENTS)
    pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--noconftest")
    session.run(*pytest, "tests/telethon/", *session.posargs)
