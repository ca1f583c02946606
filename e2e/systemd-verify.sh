#!/usr/bin/env bash
# e2e/systemd-verify.sh: the deploy files are sound without a running
# systemd (a container is fine):
#   - systemd-analyze verify passes, without one warning, on the units in
#     deploy/, in a temporary root holding the binaries their ExecStart names;
#   - systemd-analyze security rates ticketapi.service's exposure at most 2.0;
#   - the units agree with install.sh and config.json (paths, user, timeouts),
#     install.sh with the log lines of main.go it waits for;
#   - the docs' commands need no sudo, and say how to clear the start limit;
#   - the shell scripts pass bash -n / sh -n and shellcheck.
# Installs Debian's systemd (and shellcheck) when missing and run as root.
# TICKETAPI_BIN: a built binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

say() { printf '== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v shellcheck >/dev/null || missing+=(shellcheck)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd, as root)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
units=(ticketapi.service ticketapi-backup.service ticketapi-backup.timer)

# ---- A root for systemd-analyze: systemd's own units (the targets ours
# name), ours where install.sh puts them, and the programs they run.
unitdir=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [ -e "$d/multi-user.target" ]; then unitdir=$d && break; fi
done
[ -n "$unitdir" ] || fail "systemd's units (multi-user.target) are not installed"
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root/usr/local/bin"
cp -a "$unitdir" "$root/usr/lib/systemd/system"
for u in "${units[@]}"; do cp "deploy/$u" "$root/etc/systemd/system/"; done
if [ -n "${TICKETAPI_BIN:-}" ]; then
	cp "$TICKETAPI_BIN" "$root/usr/local/bin/ticketapi"
else
	say "building ticketapi"
	CGO_ENABLED=0 go build -o "$root/usr/local/bin/ticketapi" .
fi
install -m 0755 deploy/ticketapi-backup.sh "$root/usr/local/bin/ticketapi-backup"

say "systemd-analyze verify ${units[*]}"
out=$(systemd-analyze verify --root="$root" --man=no "${units[@]}" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

# The check above must notice a mistake: a misspelt key and a missing binary.
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' deploy/ticketapi.service >"$root/etc/systemd/system/ticketapi.service"
out=$(systemd-analyze verify --root="$root" --man=no ticketapi.service 2>&1 || true)
grep -q "Unknown key 'NoNewPrivilege'" <<<"$out" || fail "verify did not notice a misspelt key: $out"
cp deploy/ticketapi.service "$root/etc/systemd/system/"
mv "$root/usr/local/bin/ticketapi" "$root/ticketapi"
if out=$(systemd-analyze verify --root="$root" --man=no ticketapi.service 2>&1); then
	fail "verify passed without the binary at ExecStart: $out"
fi
mv "$root/ticketapi" "$root/usr/local/bin/ticketapi"

say "systemd-analyze security ticketapi.service"
# The threshold is in tenths: 20 is an exposure of 2.0 ("OK" ends at 3.9).
out=$(systemd-analyze security --offline=yes --root="$root" --threshold=20 ticketapi.service 2>&1) ||
	fail "exposure above 2.0: $(grep -E '✗|Overall' <<<"$out")"
grep 'Overall exposure' <<<"$out"

say "units agree with install.sh and config.json"
unit=deploy/ticketapi.service
value() { sed -n "s/^$1=//p" "$2"; }
[ "$(value Type $unit)" = notify ] || fail "ticketapi.service: Type=notify expected"
[ "$(value Restart $unit)" = on-failure ] || fail "ticketapi.service: Restart=on-failure expected"
[ "$(value ExecStart $unit)" = "/usr/local/bin/ticketapi serve -config /etc/ticketapi/config.json" ] ||
	fail "ticketapi.service: ExecStart does not run /usr/local/bin/ticketapi with /etc/ticketapi/config.json"
[ "$(value EnvironmentFile $unit)" = /etc/ticketapi/ticketapi.env ] || fail "ticketapi.service: EnvironmentFile"
for u in $unit deploy/ticketapi-backup.service; do
	if [ "$(value User "$u")" != ticketapi ] || [ "$(value StateDirectory "$u")" != ticketapi ]; then
		fail "$u: User=ticketapi and StateDirectory=ticketapi expected"
	fi
done
# install.sh's own lines, $ and all.
# shellcheck disable=SC2016
for line in 'useradd --system --user-group .* ticketapi$' 'install -m 0755 "$bin" /usr/local/bin/ticketapi$' \
	'^etc=/etc/ticketapi$' '^env_file=$etc/ticketapi.env$' '"$here/ticketapi.service" "$here/ticketapi-backup.service" "$here/ticketapi-backup.timer" /etc/systemd/system/$'; do
	grep -q -- "$line" deploy/install.sh || fail "install.sh has no line /$line/: the units would not find what it installs"
done
grep -q '"database_url": "/var/lib/ticketapi/ticketapi.db"' deploy/config.json ||
	fail "config.json: the database is not in the StateDirectory"
if ! grep -q '"listen_addr": "127.0.0.1:8000"' deploy/config.json || ! grep -q '^ *server 127.0.0.1:8000 ' deploy/nginx.conf; then
	fail "config.json's listen_addr and nginx.conf's upstream differ"
fi
drain=$(sed -n 's/.*"shutdown_timeout_seconds": *\([0-9]*\).*/\1/p' deploy/config.json)
stop=$(value TimeoutStopSec $unit)
if [ -z "$drain" ] || [ "${stop%s}" -le "$drain" ]; then
	fail "TimeoutStopSec=$stop must exceed shutdown_timeout_seconds ($drain)"
fi

# install.sh knows the first admin was created from these words of the
# server's log (main.go); both must change together.
for words in 'with the password from TICKETAPI_ADMIN_PASSWORD' 'ticketapi listening'; do
	grep -qF "$words" deploy/install.sh || fail "install.sh no longer waits for the server's words '$words'"
	grep -qF "$words" main.go || fail "main.go no longer logs '$words', which install.sh waits for"
done

say "the operator's docs"
# A minimal Debian 12 has no sudo: the docs' commands run as root as they stand.
if grep -nE '^[[:space:]]*(\$ )?sudo ' README.md docs/deploy.md; then
	fail "the command lines above start with sudo, which a minimal Debian lacks: run them as root, runuser -u USER -- for another user"
fi
grep -q 'systemctl reset-failed ticketapi' docs/deploy.md ||
	fail "docs/deploy.md does not say how to start again after the start limit (systemctl reset-failed ticketapi)"
if [ "$(value StartLimitBurst $unit)" != 5 ] || [ "$(value StartLimitIntervalSec $unit)" != 60 ] ||
	! grep -q 'five starts within 60 s' docs/deploy.md; then
	fail "the start limit in ticketapi.service and in docs/deploy.md differ"
fi

say "shell scripts"
bash -n deploy/install.sh
sh -n deploy/ticketapi-backup.sh
bash -n e2e/nginx.sh
bash -n e2e/systemd-verify.sh
bash -n e2e/systemd-boot.sh
if command -v shellcheck >/dev/null; then
	shellcheck deploy/install.sh deploy/ticketapi-backup.sh e2e/nginx.sh e2e/systemd-verify.sh e2e/systemd-boot.sh
else
	echo "shellcheck is not installed (apt-get install shellcheck): only the syntax was checked"
fi
say "PASS e2e/systemd-verify.sh"
