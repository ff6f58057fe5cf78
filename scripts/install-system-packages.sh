#!/usr/bin/env bash
# Installs the Debian libraries WeasyPrint renders the PDF dossiers with (Pango, HarfBuzz's subsetter).
# Does nothing when they are already there (Chromium, for one, brings Pango along).
set -euo pipefail

missing=()
for library in libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
    libharfbuzz-subset.so.0:libharfbuzz-subset0; do
    if ! /sbin/ldconfig -p | grep -q "${library%%:*}"; then
        missing+=("${library##*:}")
    fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "Les dossiers PDF demandent ${missing[*]} ; l'installation demande les droits root : apt-get install ${missing[*]}." >&2
    exit 1
fi

echo "Installation des bibliothèques de rendu PDF (Debian) : ${missing[*]}…"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
