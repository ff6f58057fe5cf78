#!/usr/bin/env bash
# Installs Debian's Chromium for the end-to-end tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser of its own). Does nothing when it is already there.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "Chromium est absent et l'installation demande les droits root : apt-get install chromium." >&2
    if [[ -n "${CI:-}" ]]; then
        exit 1
    fi
    echo "Les tests de bout en bout seront ignorés." >&2
    exit 0
fi

echo "Installation de Chromium (Debian)…"
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale: refresh them only when we install.
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
/usr/bin/chromium --version
