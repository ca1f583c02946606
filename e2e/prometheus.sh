#!/usr/bin/env bash
# e2e/prometheus.sh: the metrics files of deploy/ are what Prometheus
# accepts, and the real binary's /metrics is what it reads:
#   - promtool check config deploy/prometheus.yml (with its rule file);
#   - promtool check rules deploy/alerts.yml, and promtool test rules
#     e2e/alerts-test.yml: each alert fires on its cause, none on a healthy
#     instance;
#   - the binary serves /metrics on metrics_addr alone (the API's port
#     answers it 404), and promtool check metrics passes its exposition.
# Installs Debian's prometheus (it holds promtool) when missing and run as
# root; the package starts its own server, which is stopped again.
# TICKETAPI_BIN: a built binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

say() { printf '== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

if ! command -v promtool >/dev/null && [ "$(id -u)" = 0 ]; then
	say "installing prometheus (for promtool)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus curl >/dev/null
	if [ -d /run/systemd/system ]; then systemctl disable --now prometheus.service >/dev/null 2>&1 || true; fi
fi
command -v promtool >/dev/null || fail "promtool is missing (apt-get install prometheus, as root)"

say "promtool: deploy/prometheus.yml, deploy/alerts.yml, e2e/alerts-test.yml"
promtool check config deploy/prometheus.yml >/dev/null || fail "promtool check config deploy/prometheus.yml"
promtool check rules deploy/alerts.yml >/dev/null || fail "promtool check rules deploy/alerts.yml"
promtool test rules e2e/alerts-test.yml || fail "promtool test rules e2e/alerts-test.yml"

work=$(mktemp -d)
server_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${TICKETAPI_BIN:-}" ]; then
	bin=$TICKETAPI_BIN
else
	say "building ticketapi"
	bin=$work/ticketapi
	CGO_ENABLED=0 go build -o "$bin" .
fi

say "the binary's /metrics, on its own port"
printf '{"listen_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0", "database_url": "%s"}\n' "$work/t.db" >"$work/config.json"
: >"$work/server.log"
TICKETAPI_SECRET_KEY=$(openssl rand -hex 32 2>/dev/null || echo "e2e-prometheus-secret-key-0123456789abcdef") \
	TICKETAPI_ADMIN_PASSWORD='E2e-Prom!pass1' "$bin" serve -config "$work/config.json" 2>"$work/server.log" &
server_pid=$!
api=''
metrics=''
for _ in $(seq 100); do
	api=$(sed -n 's/.*msg="ticketapi listening" addr=\([0-9.:]*\).*/\1/p' "$work/server.log")
	metrics=$(sed -n 's/.*msg="metrics listening" addr=\([0-9.:]*\).*/\1/p' "$work/server.log")
	[ -n "$api" ] && [ -n "$metrics" ] && break
	kill -0 "$server_pid" 2>/dev/null || fail "ticketapi exited at start: $(cat "$work/server.log")"
	sleep 0.1
done
if [ -z "$api" ] || [ -z "$metrics" ]; then fail "ticketapi did not log both addresses: $(cat "$work/server.log")"; fi
curl -s -o /dev/null -d username=admin -d 'password=wrong-Pass1' "http://$api/api/v1/token"
[ "$(curl -s "http://$api/metrics")" = '{"detail":"Not Found"}' ] || fail "the API's port serves /metrics"
curl -fsS "http://$metrics/metrics" >"$work/metrics" || fail "GET /metrics on $metrics"
grep -q '^ticketapi_logins_total{outcome="wrong_password"} 1$' "$work/metrics" || fail "the wrong password is not counted"
promtool check metrics <"$work/metrics" || fail "promtool check metrics finds problems in the exposition"
kill -TERM "$server_pid"
wait "$server_pid" || fail "ticketapi did not stop cleanly"
server_pid=
say "PASS e2e/prometheus.sh"
