#!/usr/bin/env bash
# Install everything the tests need and run all of them: lint, types, the test suite (with a
# real D-Bus session and gnome-keyring for the keyring tests), the stress part, the Pyrogram-
# family compatibility sessions, the benchmark smoke run and the documentation build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "ruff"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
step "mypy --strict"
"$PY" -m mypy --strict vault

step "tests"
bash scripts/with-keyring.sh "$PY" -m pytest -q -p no:cacheprovider
step "stress tests"
bash scripts/with-keyring.sh "$PY" -m pytest -q -p no:cacheprovider -m stress

step "Pyrogram-family compatibility (one venv per client package)"
"$PY" -m nox --no-color

step "benchmark smoke run (its own venv: Pyrofork installs the pyrogram package)"
[ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
.venv-bench/bin/python -m pip install -q --disable-pip-version-check -e ".[bench]"
.venv-bench/bin/python -m bench --quick

step "docs"
NO_MKDOCS_2_WARNING=1 "$PY" -m mkdocs build --strict -q -d "$(mktemp -d)"
