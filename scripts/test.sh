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

step "docs"
"$PY" -m mkdocs build --strict -q -d "$(mktemp -d)"
