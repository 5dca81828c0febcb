#!/usr/bin/env bash
# Set up session-vault in .venv (with the keyring and docs extras, which the commands in README.md
# and docs/ need) and run the demo on the embedded default (a FileStorage).
set -euo pipefail
cd "$(dirname "$0")/.."
VAULT_APT=0 VAULT_EXTRAS=keyring,docs source scripts/setup.sh
exec "$PY" examples/demo.py
