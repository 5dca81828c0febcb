#!/usr/bin/env bash
# Run a command inside a private D-Bus session with an unlocked gnome-keyring, so the keyring
# tests use a real Secret Service. Without dbus-run-session the command runs as it is (those
# tests then skip locally; in CI, where CI=true, they fail instead).
set -euo pipefail
if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
    exec "$@"
fi
exec dbus-run-session -- bash -c '
    eval "$(printf "vault-test\n" | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
    export GNOME_KEYRING_CONTROL
    exec "$@"
' with-keyring "$@"
