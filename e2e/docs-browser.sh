#!/usr/bin/env bash
# e2e/docs-browser.sh: the Swagger UI page in a real browser. Builds and
# starts ticketapi on a free loopback port (temporary database, known admin
# password), opens {root}/docs in headless Chromium (Debian's package, driven
# by playwright-core from e2e/package-lock.json; no browser is downloaded),
# authorizes with the admin's password through the OAuth2 password flow,
# runs "Try it out" on GET /me and checks the 200 answer names the admin.
# No request may leave for another host. Saves docs-screenshot.png at the
# repository root (not committed).
#
#   bash e2e/docs-browser.sh    (as root it installs chromium if missing)
#
# Exit status non-zero on any failure.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
say() { printf '== %s\n' "$*"; }

chromium_bin=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium_bin" ]; then
	say "installing Debian's chromium"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
"$chromium_bin" --version

say "installing playwright-core (npm ci)"
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

say "building ticketapi"
go build -o "$tmp/ticketapi" .

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
base="http://127.0.0.1:$port"
admin_password="Docs-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')!A1"
say "starting ticketapi on $base"
# Started from the temp folder: no ./config.json there, so the built-in config.
(cd "$tmp" && TICKETAPI_ADMIN_PASSWORD="$admin_password" \
	TICKETAPI_SECRET_KEY="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	exec ./ticketapi serve -addr "127.0.0.1:$port" -db "$tmp/docs.db") >"$tmp/server.log" 2>&1 &
server_pid=$!

ready=
for _ in $(seq 1 100); do
	if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then ready=1; break; fi
	if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "ticketapi did not get ready; its log:" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi

say "driving Swagger UI in headless Chromium"
status=0
DOCS_BASE_URL="$base" DOCS_ROOT_PATH=/api/v1 DOCS_USERNAME=admin DOCS_PASSWORD="$admin_password" \
	DOCS_SCREENSHOT="$repo/docs-screenshot.png" CHROMIUM="$chromium_bin" DOCS_PROFILE="$tmp/profile" \
	node e2e/docs-browser.mjs || status=$?
if [ "$status" -ne 0 ]; then
	echo "server log:" >&2
	tail -n 40 "$tmp/server.log" >&2
fi
exit "$status"
