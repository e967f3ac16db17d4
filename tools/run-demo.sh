#!/usr/bin/env bash
# The main job on a fresh machine: set-up, build, then the demo of the packages working together.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
bash tools/setup.sh
pnpm turbo run build --output-logs=errors-only >&2
node tools/demo/bin/demo.js "$@"
