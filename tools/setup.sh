#!/usr/bin/env bash
# Fresh-machine set-up shared by the README commands and CI: pnpm, the Debian packages the
# tests talk to (brokers, stunnel, openssl), and the workspace's npm dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "[setup] installing pnpm $PNPM_VERSION" >&2
  npm install -g "pnpm@$PNPM_VERSION" >&2
fi

# Debian packages: one per line in tools/brokers/apt-packages.txt ('#' comments allowed).
mapfile -t wanted < <(sed -e 's/[[:space:]]*#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' tools/brokers/apt-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "[setup] apt-get install ${missing[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

echo "[setup] pnpm install" >&2
if [ "${CI:-}" = "true" ]; then pnpm install --frozen-lockfile >&2; else pnpm install >&2; fi
