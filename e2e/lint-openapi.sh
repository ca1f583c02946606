#!/usr/bin/env bash
# Lints openapi.json with Redocly CLI (the version pinned in e2e/package.json
# and package-lock.json), using the rules in redocly.yaml. Exits non-zero on
# any error. Run by .ci/run; needs node and npm.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

# Install exactly the locked tools into e2e/node_modules (gitignored).
(cd "$repo/e2e" && npm ci --no-audit --no-fund --loglevel=error)

# No telemetry, no update check: the lint needs nothing but the files here.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
cd "$repo"
"$repo/e2e/node_modules/.bin/redocly" lint --config redocly.yaml --format stylish openapi.json
