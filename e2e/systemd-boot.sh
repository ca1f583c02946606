#!/usr/bin/env bash
# e2e/systemd-boot.sh: the operator's path under a real systemd. Debian 12,
# bootstrapped into a directory, boots with its own systemd in
# systemd-nspawn (no network), and deploy/install.sh runs in it as an
# operator would, twice and more; then it checks what install.sh promises:
#   - the unit active through Type=notify, /readyz, a login and GET /me
#     through NGINX over verified TLS with HTTP/2 and HSTS, 301 from HTTP,
#     413 over 1 MiB, the nightly backup, kill -9 restarted with data kept,
#     set-password while running (old tokens end), a broken config refused
#     in one error line and stopped by the start limit;
#   - the first admin's password printed by install.sh and nowhere else:
#     not in the journal, the env file or /proc/MAINPID/environ, also when
#     the database is new but the env file is not;
#   - a re-run keeps the operator's NGINX site, probes the listen_addr of
#     config.json quietly, and a refused `nginx -t` leaves NGINX as it was;
#   - after a start-limit hit a fixed config starts again (install.sh
#     resets the limit; by hand, systemctl reset-failed as the docs say);
#   - journalctl -p finds the server's errors and not its info lines.
#
#   bash e2e/systemd-boot.sh      (as root; installs debootstrap and
#                                  systemd-container when missing)
#
# The Debian tree is cached in TICKETAPI_ROOTFS_CACHE (default
# /var/cache/ticketapi-e2e) and reused: the first run bootstraps it from the
# mirror apt uses (about a minute), later runs boot it at once. The machine
# writes to a tmpfs over it (--volatile=overlay), so the cache stays clean;
# at the end it is powered off and nothing stays mounted.
# TICKETAPI_BIN: a built binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

say() { printf '== %s\n' "$*"; }
fail() {
	echo "FAIL: $*" >&2
	if [ -n "${leader:-}" ] && [ -d "/proc/$leader" ]; then
		echo "--- journal of the machine (last lines)" >&2
		in_machine journalctl -q --no-pager -n 40 >&2 || true
	fi
	exit 1
}
# cannot_boot: the boot itself is impossible here; said loudly, and a failure.
cannot_boot() {
	{
		echo "########################################################################"
		echo "SYSTEMD BOOT TEST COULD NOT RUN: $*"
		echo "########################################################################"
	} >&2
	exit 1
}

[ "$(id -u)" = 0 ] || cannot_boot "it needs root (debootstrap, systemd-nspawn, nsenter)"
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- The Debian tree, made once. What the machine needs beyond Debian's
# minimal base: systemd to boot, and what install.sh would take from apt
# (nginx, certbot, curl), since the machine has no network. debootstrap
# does not resolve the virtual package certbot's python3-cryptography
# needs, so python3-cffi-backend, which provides it, is named too.
suite=bookworm
packages=systemd,systemd-sysv,nginx,certbot,python3-cffi-backend,curl,ca-certificates
cache=${TICKETAPI_ROOTFS_CACHE:-/var/cache/ticketapi-e2e}
rootfs=$cache/debian-$suite-$(printf '%s\n' "$suite" "$packages" v1 | sha256sum | cut -c1-12)

# debian_mirror prints the Debian mirror apt is configured with.
debian_mirror() {
	local files=() f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	# One-line entries ("deb URL SUITE ...") and deb822 stanzas (URIs:,
	# Suites:); the first URL not for security updates.
	awk '
		/^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($i !~ /security/) { print $i; exit } else break } }
		/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }
	' "${files[@]}" | head -n 1
}

make_rootfs() {
	local mirror tmp
	mirror=${TICKETAPI_DEBIAN_MIRROR:-$(debian_mirror)}
	[ -n "$mirror" ] || cannot_boot "no Debian mirror in apt's sources (set TICKETAPI_DEBIAN_MIRROR)"
	say "bootstrapping Debian $suite from $mirror into $rootfs (once; cached)"
	rm -rf "$cache"/partial.* # an interrupted bootstrap
	tmp=$(mktemp -d "$cache/partial.XXXXXX")
	if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
		tail -n 20 "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		cannot_boot "debootstrap $suite from $mirror failed (above)"
	fi
	rm -f "$tmp.log"
	# Nothing the test does not need at boot (timers of apt and certbot).
	for unit in apt-daily.timer apt-daily-upgrade.timer certbot.timer; do
		ln -sfn /dev/null "$tmp/etc/systemd/system/$unit"
	done
	rm -rf "$cache"/debian-"$suite"-* # trees of other package lists
	mv "$tmp" "$rootfs"
}
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9 # one bootstrap at a time
[ -x "$rootfs/usr/lib/systemd/systemd" ] || make_rootfs
flock -u 9

# ---- What goes into the machine (read-only): the repository, the binary,
# a test CA and a certificate for the domain, laid out as certbot does.
domain=api.example.org
work=$(mktemp -d)
nspawn_pid=
leader=
machine=ticketapi-e2e-$$
cleanup() {
	local status=$?
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# systemd-nspawn turns SIGTERM into a clean shutdown of the machine.
		if [ -z "$leader" ] || ! in_machine systemctl poweroff >/dev/null 2>&1; then kill -TERM "$nspawn_pid" 2>/dev/null || true; fi
		for _ in $(seq 150); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			echo "the machine did not power off within 30 s: killing systemd-nspawn" >&2
			kill -KILL "$nspawn_pid" 2>/dev/null || true
			status=1
		fi
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	if grep -qF -e "$rootfs" -e "$work" /proc/self/mounts; then
		echo "FAIL: still mounted after the machine stopped:" >&2
		grep -F -e "$rootfs" -e "$work" /proc/self/mounts >&2
		status=1
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT

if [ -n "${TICKETAPI_BIN:-}" ]; then
	cp "$TICKETAPI_BIN" "$work/ticketapi"
else
	say "building ticketapi"
	CGO_ENABLED=0 go build -o "$work/ticketapi" .
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=ticketapi boot test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=$domain" -keyout "$work/privkey.pem" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:$domain" "basicConstraints=CA:FALSE" \
	"keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-days 2 -extfile "$work/server.ext" -out "$work/fullchain.pem" 2>/dev/null
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' a >"$work/big"
chmod -R go+rX "$work"

# ---- Boot. The host may have no systemd of its own, so the machine is not
# registered anywhere, and commands reach it by nsenter into its init.
say "booting Debian $suite with systemd-nspawn"
boot_started=$SECONDS
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --boot --directory="$rootfs" --volatile=overlay \
	--private-network --register=no --keep-unit --system-call-filter=bpf --machine="$machine" \
	--console=read-only --bind-ro="$PWD:/srv/src" --bind-ro="$work:/srv/e2e" \
	</dev/null >"$work/boot.log" 2>&1 &
nspawn_pid=$!
# The machine's init is systemd-nspawn's child once that has become systemd.
for _ in $(seq 300); do
	leader=$(pgrep -P "$nspawn_pid" | head -n 1 || true)
	if [ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ]; then break; fi
	leader=
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$leader" ]; then
	nspawn_pid=
	cannot_boot "systemd-nspawn did not start the machine: $(tail -n 15 "$work/boot.log")"
fi
# in_machine CMD...: runs CMD as root in the machine, with a clean environment.
in_machine() {
	nsenter --target="$leader" --all -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 "$@"
}
# systemctl answers once systemd has made its socket, then waits for the boot.
# Before systemd has mounted the machine's /run, systemctl finds no
# /run/systemd/system and says "offline": too early, not a failure.
state=
for _ in $(seq 300); do
	state=$(timeout 90 nsenter --target="$leader" --all -- systemctl is-system-running --wait 2>&1 || true)
	case $state in *"Failed to connect"* | *"No such file"* | offline) sleep 0.1 ;; *) break ;; esac
done
case $state in
running) ;;
degraded) fail "the machine booted degraded: $(in_machine systemctl --failed --no-legend --plain)" ;;
*) cannot_boot "systemd in the machine did not come up ($state): $(tail -n 15 "$work/boot.log")" ;;
esac
echo "booted in $((SECONDS - boot_started)) s: systemd $(in_machine systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"

# ---- Functions the checks share.
# has ARGS...: grep that reads all its input, so the command before it in a
# pipeline (pipefail) never dies of SIGPIPE, as it may with grep -q.
has() { grep "$@" >/dev/null; }
install_sh() { in_machine /srv/src/deploy/install.sh "$domain" /srv/e2e/ticketapi; }
main_pid() { in_machine systemctl show -p MainPID --value ticketapi.service; }
# unit_state: "ActiveState SubState Result" of ticketapi.service.
unit_state() {
	in_machine systemctl show -p ActiveState -p SubState -p Result ticketapi.service |
		awk -F= '{ v[$1] = $2 } END { print v["ActiveState"], v["SubState"], v["Result"] }'
}
# https and http: curl in the machine, TLS verified against the test CA.
https() {
	in_machine curl -sS --cacert /srv/e2e/ca.pem --resolve "$domain:443:127.0.0.1" --max-time 20 "$@"
}
http() { in_machine curl -sS --resolve "$domain:80:127.0.0.1" --max-time 10 "$@"; }
# answers WANT CURL-FUNCTION ARGS...: '%{http_code}' (and what else ARGS
# ask with -w) is WANT within 5 s: NGINX's new workers take over a moment
# after a reload.
answers() {
	local want=$1 got='' deadline=$((SECONDS + 5))
	shift
	while :; do
		got=$("$@" -o /dev/null 2>&1 || true)
		[ "$got" = "$want" ] && return 0
		[ "$SECONDS" -lt "$deadline" ] || break
		sleep 0.2
	done
	fail "${*: -1} answered '$got', want '$want'"
}
api=https://$domain/api/v1
login() { # login PASSWORD: prints the access token, or nothing
	https "$api/token" -d username=admin --data-urlencode "password=$1" |
		sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}
# printed_password OUTPUT: the first admin's password install.sh printed.
printed_password() {
	awk '/^The first admin is/ { want = 1; next } want && NF { print $1; exit }' <<<"$1"
}
# password_kept_nowhere PASSWORD: not in the journal (every field), the env
# file or the running server's environment.
password_kept_nowhere() {
	local pid
	if in_machine journalctl -q -o export --no-pager | has -aF -- "$1"; then
		fail "the first admin's password is in the journal"
	fi
	if in_machine grep -qF -- "$1" /etc/ticketapi/ticketapi.env; then
		fail "the first admin's password is still in /etc/ticketapi/ticketapi.env"
	fi
	pid=$(main_pid)
	[ "$pid" != 0 ] || fail "ticketapi is not running"
	if in_machine cat "/proc/$pid/environ" | tr '\0' '\n' | has '^TICKETAPI_ADMIN_PASSWORD='; then
		fail "the running server (pid $pid) has TICKETAPI_ADMIN_PASSWORD in /proc/$pid/environ"
	fi
}
# no_probe_noise OUTPUT: install.sh printed no curl error while it waited.
no_probe_noise() {
	if grep -q '^curl: (' <<<"$1"; then fail "install.sh printed curl's errors while waiting: $(grep -c '^curl: (' <<<"$1") lines"; fi
}
# wait_for_state WANT SECONDS: until the unit's "ActiveState SubState Result" matches WANT.
wait_for_state() {
	local deadline=$((SECONDS + $2))
	# shellcheck disable=SC2053 # WANT is a pattern: "failed failed *"
	until [[ "$(unit_state)" == $1 ]]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "ticketapi.service is '$(unit_state)', want '$1' within $2 s"
		sleep 0.2
	done
}

# ---- The operator's path.
say "a minimal Debian has no sudo: the docs' commands run as root, runuser for the service user"
if in_machine sh -c 'command -v sudo'; then fail "the machine has sudo: it should be as minimal as the docs assume"; fi

say "install.sh, first run: no certificate yet"
out=$(install_sh 2>&1) || fail "install.sh failed: $out"
no_probe_noise "$out"
password=$(printed_password "$out")
[ -n "$password" ] || fail "the first run printed no password for admin: $out"
[ "$(in_machine systemctl show -p Type --value ticketapi.service)" = notify ] || fail "ticketapi.service is not Type=notify"
[ "$(unit_state)" = "active running success" ] || fail "ticketapi.service: $(unit_state)"
password_kept_nowhere "$password"
in_machine curl -fsS -o /dev/null http://127.0.0.1:8000/readyz || fail "/readyz on 127.0.0.1:8000"
# The metrics listener works inside the sandbox (IPAddressAllow=localhost,
# ProcSubset=pid): the requests, Go's runtime and the process's own figures.
metrics=$(in_machine curl -fsS http://127.0.0.1:9464/metrics) || fail "/metrics on 127.0.0.1:9464 under the shipped unit"
for m in 'ticketapi_http_requests_total{method="GET",route="GET /readyz",status="200"}' go_goroutines process_resident_memory_bytes; do
	has -F "$m" <<<"$metrics" || fail "/metrics under the shipped unit lacks $m"
done
answers 503 http -w '%{http_code}' "http://$domain/api/v1/me" # before the certificate
in_machine install -D -m 0644 /dev/null /var/www/letsencrypt/.well-known/acme-challenge/probe
answers 200 http -w '%{http_code}' "http://$domain/.well-known/acme-challenge/probe"

say "a certificate NGINX cannot load: install.sh refuses it and NGINX stays as it was"
in_machine install -d /etc/letsencrypt/live/$domain
in_machine sh -c "echo 'not a certificate' >/etc/letsencrypt/live/$domain/fullchain.pem; cp /etc/letsencrypt/live/$domain/fullchain.pem /etc/letsencrypt/live/$domain/privkey.pem"
if out=$(install_sh 2>&1); then fail "install.sh accepted a site nginx -t refuses: $out"; fi
grep -q 'nginx -t refuses' <<<"$out" || fail "install.sh did not say nginx -t refused: $out"
in_machine nginx -t -q || fail "after a refused site, nginx -t still fails: the broken site was left enabled"
in_machine head -n 1 /etc/nginx/sites-available/ticketapi.conf | has '^# Temporary' ||
	fail "the temporary site was not put back"
in_machine systemctl restart nginx || fail "NGINX does not restart after a refused site"
answers 503 http -w '%{http_code}' "http://$domain/" # port 80 still up

say "install.sh again, with a certificate (self-signed by a test CA): HTTPS"
in_machine install -m 0644 /srv/e2e/fullchain.pem /etc/letsencrypt/live/$domain/fullchain.pem
in_machine install -m 0600 /srv/e2e/privkey.pem /etc/letsencrypt/live/$domain/privkey.pem
out=$(install_sh 2>&1) || fail "install.sh with the certificate failed: $out"
no_probe_noise "$out"
grep -q "^Done: https://$domain/" <<<"$out" || fail "install.sh did not finish with HTTPS: $out"
[ -z "$(printed_password "$out")" ] || fail "a second run printed a password, but the admin existed"
answers 200 https -w '%{http_code}' "https://$domain/readyz"
token=$(login "$password")
[ -n "$token" ] || fail "login with the printed password through NGINX failed"
https -f "$api/me" -H "Authorization: Bearer $token" | has '"username":"admin"' || fail "GET /me through NGINX"
[ "$(https -o /dev/null -w '%{http_version}' --http2 "https://$domain/readyz")" = 2 ] || fail "no HTTP/2 over TLS"
https -sI "https://$domain/readyz" | has -i '^strict-transport-security: max-age=63072000' || fail "no HSTS header"
answers "301 https://$domain/api/v1/me" http -w '%{http_code} %{redirect_url}' "http://$domain/api/v1/me"
answers 413 https -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @/srv/e2e/big "$api/employee/"

say "the operator's edits survive install.sh: NGINX site and listen_addr"
site=/etc/nginx/sites-available/ticketapi.conf
in_machine sed -i -e 's/server 127.0.0.1:8000 /server 127.0.0.1:8001 /' \
	-e '/add_header Strict-Transport-Security/a\    add_header X-Operator-Edit kept always;' $site
in_machine grep -q 'X-Operator-Edit' $site || fail "the test could not edit the site"
in_machine sed -i 's/"listen_addr": "127.0.0.1:8000"/"listen_addr": "127.0.0.1:8001"/' /etc/ticketapi/config.json
# And a slow start (the server listens 2 s after systemd starts it), so
# install.sh's readiness probe has to wait.
in_machine sh -c 'mkdir -p /etc/systemd/system/ticketapi.service.d && printf "%s
" "[Service]" "Type=simple" "ExecStart=" \
	"ExecStart=/bin/sh -c \"sleep 2; exec /usr/local/bin/ticketapi serve -config /etc/ticketapi/config.json\"" \
	>/etc/systemd/system/ticketapi.service.d/slow-start.conf'
out=$(install_sh 2>&1) || fail "install.sh after the operator's edits failed: $out"
no_probe_noise "$out"
in_machine rm /etc/systemd/system/ticketapi.service.d/slow-start.conf
in_machine systemctl daemon-reload
in_machine systemctl restart ticketapi.service
grep -q "keeping $site" <<<"$out" || fail "install.sh did not say it kept the edited site: $out"
in_machine grep -q 'X-Operator-Edit kept' $site || fail "install.sh threw away the operator's edit of $site"
in_machine test -e "$site.shipped" || fail "the shipped site is not beside the edited one"
in_machine curl -fsS -o /dev/null http://127.0.0.1:8001/readyz || fail "the server does not listen on the configured 127.0.0.1:8001"
answers "200 kept" https -w '%{http_code} %header{x-operator-edit}' "https://$domain/readyz"
token=$(login "$password")
https -f "$api/me" -H "Authorization: Bearer $token" | has '"username":"admin"' || fail "GET /me through the edited site"

say "the nightly backup, run now"
in_machine systemctl start ticketapi-backup.service || fail "ticketapi-backup.service failed"
in_machine sh -c 'ls /var/lib/ticketapi/backups/ticketapi-*.db' >/dev/null || fail "no backup file"
in_machine journalctl -q -o cat -u ticketapi-backup.service | has 'integrity_check ok' || fail "the backup was not checked"
in_machine systemctl list-timers --all --no-legend ticketapi-backup.timer | has ticketapi-backup.timer ||
	fail "ticketapi-backup.timer is not scheduled"

say "kill -9: systemd restarts the server, every acknowledged write kept"
employee='{"first_name":"Olena","last_name":"Shevchenko","nick_name":"Olena","phone":"+380504430002","email":"olena@example.com","birthday":"1998-06-01","country":"Ukraine","city":"Lviv","address":"Khreschatyk St, 14"}'
created=$(https -f "$api/employee/" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$employee") ||
	fail "POST /employee/"
employee_id=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' <<<"$created")
[ -n "$employee_id" ] || fail "POST /employee/ answered $created"
old_pid=$(main_pid)
in_machine sh -c "kill -9 $old_pid"
deadline=$((SECONDS + 30))
until [ "$(main_pid)" != 0 ] && [ "$(main_pid)" != "$old_pid" ] && [ "$(unit_state)" = "active running success" ]; do
	[ "$SECONDS" -lt "$deadline" ] || fail "not restarted within 30 s after kill -9: $(unit_state)"
	sleep 0.2
done
https -f "$api/employee/$employee_id" -H "Authorization: Bearer $token" | has Shevchenko ||
	fail "the employee written before kill -9 is gone"

say "set-password while the server runs, as the docs say (runuser, no sudo)"
new_password='N3w-Admin!pass'
in_machine sh -c "printf '%s\n' '$new_password' | runuser -u ticketapi -- ticketapi set-password -config /etc/ticketapi/config.json admin" ||
	fail "set-password failed"
[ "$(https -o /dev/null -w '%{http_code}' "$api/me" -H "Authorization: Bearer $token")" = 401 ] ||
	fail "a token from before set-password still works"
token=$(login "$new_password")
[ -n "$token" ] || fail "login with the new password failed"
if in_machine journalctl -q -o export --no-pager | has -aF -- "$new_password"; then fail "the new password is in the journal"; fi

say "journald reads each line's priority"
in_machine journalctl -q -o cat -u ticketapi.service -p info | has 'ticketapi listening' ||
	fail "the server's info lines are not in the journal at priority info"
if in_machine journalctl -q -o cat -u ticketapi.service -p warning | has 'ticketapi listening'; then
	fail "an info line reached the journal as a warning or worse: every line has one priority"
fi
if in_machine journalctl -q -o cat -u ticketapi.service | has '^<[0-9]>'; then
	fail "journald showed a priority prefix as text"
fi

say "a broken config: refused in one line at priority err, then the start limit"
in_machine systemctl reset-failed ticketapi.service # the starts above do not count
in_machine cp /etc/ticketapi/config.json /root/config.json.good
in_machine sh -c 'echo "{ broken" >/etc/ticketapi/config.json'
if in_machine systemctl restart ticketapi.service 2>/dev/null; then fail "ticketapi started with a broken config"; fi
deadline=$((SECONDS + 60))
until in_machine journalctl -q -o cat -u ticketapi.service | has 'Start request repeated too quickly'; do
	[ "$SECONDS" -lt "$deadline" ] || fail "systemd did not stop retrying the broken config within 60 s: $(unit_state)"
	sleep 0.5
done
wait_for_state "failed failed *" 5
errors=$(in_machine journalctl -q -o cat -u ticketapi.service -p err)
grep -q '^ticketapi: .*config' <<<"$errors" || fail "the refused config's line is not in the journal at priority err: $errors"
starts=$(in_machine journalctl -q -o cat -u ticketapi.service | grep -c '^ticketapi: .*config' || true)
[ "$starts" = 5 ] || fail "$starts refused starts, want 5 (StartLimitBurst) before systemd gives up"
in_machine cp /root/config.json.good /etc/ticketapi/config.json
if in_machine systemctl start ticketapi.service 2>/dev/null; then
	fail "systemd started the unit past its start limit: the docs' reset-failed step is not needed any more"
fi
in_machine systemctl reset-failed ticketapi.service
in_machine systemctl start ticketapi.service || fail "a fixed config does not start after reset-failed"
wait_for_state "active running success" 10
in_machine systemctl stop ticketapi.service
in_machine sh -c 'echo "{ broken" >/etc/ticketapi/config.json'
for _ in 1 2 3 4 5; do in_machine systemctl start ticketapi.service 2>/dev/null || true; done
wait_for_state "failed failed *" 60
in_machine cp /root/config.json.good /etc/ticketapi/config.json
out=$(install_sh 2>&1) || fail "install.sh after failed starts (start limit) failed: $out"
wait_for_state "active running success" 10

say "the env file is kept but the database is new: install.sh prints the new admin's password"
in_machine systemctl stop ticketapi.service
in_machine sh -c 'mkdir /root/moved && mv /var/lib/ticketapi/ticketapi.db* /root/moved/'
out=$(install_sh 2>&1) || fail "install.sh on a new database failed: $out"
second_password=$(printed_password "$out")
[ -n "$second_password" ] || fail "install.sh printed no password for the new database's admin: $out"
[ "$second_password" != "$password" ] || fail "the same first password twice"
[ -n "$(login "$second_password")" ] || fail "login with the new database's printed password failed"
password_kept_nowhere "$second_password"
in_machine systemctl stop ticketapi.service
in_machine sh -c 'rm -f /var/lib/ticketapi/ticketapi.db* && mv /root/moved/* /var/lib/ticketapi/'
in_machine systemctl start ticketapi.service
[ -n "$(login "$new_password")" ] || fail "the moved database back: the admin's password changed"

say "power off"
in_machine systemctl poweroff 2>/dev/null || true # it says it has no D-Bus, and powers off
for _ in $(seq 150); do
	kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$nspawn_pid" 2>/dev/null && fail "the machine did not power off within 30 s"
wait "$nspawn_pid" || true
nspawn_pid=
leader=
say "PASS e2e/systemd-boot.sh ($SECONDS s)"
