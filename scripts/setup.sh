#!/usr/bin/env bash
# Prepare a machine for session-vault: Debian packages the tests need, and a virtual
# environment in .venv with the package and its extras. Safe to run again; sourced by the
# other scripts, which then use "$PY".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${VAULT_EXTRAS:-dev,docs}"

if [ "${VAULT_APT:-1}" = 1 ] && command -v apt-get >/dev/null 2>&1; then
    missing=()
    # chromium and chromium-driver: the docs site check (tests/test_docs_site.py).
    for pkg in redis-server gnome-keyring dbus dbus-x11 chromium chromium-driver; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" = 0 ] || SUDO="sudo"
        echo "setup: installing Debian packages: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [ ! -x "$ROOT/.venv/bin/python" ]; then
    python3 -m venv "$ROOT/.venv"
fi
PY="$ROOT/.venv/bin/python"
"$PY" -m pip install -q --disable-pip-version-check --upgrade pip
"$PY" -m pip install -q --disable-pip-version-check -e "$ROOT[$EXTRAS]"
export PY
