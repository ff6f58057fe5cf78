#!/usr/bin/env bash
# Installs the DSFR (npm @gouvfr/dsfr, pinned in package-lock.json) and copies its dist/ to
# tracker/static/dsfr/. Idempotent: does nothing when the copy matches the current lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

target=tracker/static/dsfr
stamp="$target/.installed-from"
# The stamp records which package.json + package-lock.json the copy came from.
wanted="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -f "$target/dsfr.min.css" ]]; then
    echo "DSFR : déjà à jour ($target)."
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "npm est introuvable : installez Node.js 20 et npm (apt-get install nodejs npm)." >&2
    exit 1
fi

node_stamp=node_modules/.tracker-installed-from
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$wanted" && -d node_modules/@gouvfr/dsfr/dist ]]; then
    echo "DSFR : node_modules déjà à jour."
else
    echo "DSFR : npm ci…"
    # The DSFR's preinstall script refuses to install unless its licence is accepted explicitly.
    DSFR_ACCEPT_LICENSE=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$wanted" >"$node_stamp"
fi

# Copy beside the target, then swap, so an interrupted copy never leaves a half-filled directory.
staging="$target.tmp"
rm -rf "$staging"
mkdir -p "$(dirname "$target")"
cp -R node_modules/@gouvfr/dsfr/dist "$staging"
echo "$wanted" >"$staging/.installed-from"
rm -rf "$target"
mv "$staging" "$target"
version="$(node -p 'require("./node_modules/@gouvfr/dsfr/package.json").version')"
echo "DSFR $version copié dans $target."
