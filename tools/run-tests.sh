#!/usr/bin/env bash
# All tests on a fresh machine: set-up, build, every package's vitest run against real peers on
# loopback, then the summary whose last line is "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
bash tools/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
find packages tools -maxdepth 2 -name .vitest-results.json -delete
pnpm turbo run build --output-logs=errors-only >&2
build=$?
pnpm turbo run test --continue --concurrency=1
runner=$?
[ $build -ne 0 ] && runner=$build
node tools/test-summary/bin/test-summary.js --runner-exit "$runner" --checks-failed "${CHECKS_FAILED:-0}"
