#!/usr/bin/env bash
# e2e/nginx.sh: the deploy path for real. Debian's NGINX runs the shipped
# deploy/nginx.conf (ports, certificate and log paths substituted) in front
# of the real ticketapi binary, with a certificate from a CA made here; the
# API's happy path runs through HTTPS with certificate verification on.
#
#   bash e2e/nginx.sh       (root installs nginx-light/openssl/curl if missing)
#
# Ports: NGINX_HTTP_PORT (18080) and NGINX_HTTPS_PORT (18443) on 127.0.0.1;
# the server takes a free loopback port. TICKETAPI_BIN: a built binary to use
# instead of building one. Exit status non-zero on any failure.
#
# With E2E_DATABASE_URL=postgres://... two instances run on that database
# behind the shipped upstream block (its second server line enabled): the
# requests reach both, and when one is killed the service goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

http_port=${NGINX_HTTP_PORT:-18080}
https_port=${NGINX_HTTPS_PORT:-18443}
admin_password='E2e-Admin!pass1'
export LC_ALL=C

say() { printf '== %s\n' "$*"; }

missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	# Releases that no longer package nginx-light: plain nginx.
	if [[ " ${missing[*]} " == *" nginx-light "* ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
		missing=("${missing[@]/nginx-light/nginx}")
	fi
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The package starts a system NGINX on port 80 where it can; this test
	# runs its own.
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
server_pid=
server2_pid=
cleanup() {
	if [ -f "$work/nginx.pid" ]; then kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; fi
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	if [ -n "$server2_pid" ]; then kill "$server2_pid" 2>/dev/null || true; fi
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in server.log server2.log logs/error.log logs/ticketapi.error.log; do
		if [ -s "$work/$f" ]; then
			echo "--- $f (last lines)" >&2
			tail -n 20 "$work/$f" >&2
		fi
	done
	exit 1
}

# ---- A test CA and a certificate for localhost, laid out as certbot does.
say "certificates"
mkdir -p "$work/letsencrypt/live/localhost" "$work/www/.well-known/acme-challenge" "$work/logs" "$work/tmp"
live=$work/letsencrypt/live/localhost
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=ticketapi e2e test CA" -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=localhost" -keyout "$live/privkey.pem" -out "$work/server.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
	"keyUsage=digitalSignature" "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
	-days 2 -extfile "$work/server.ext" -out "$live/fullchain.pem" 2>/dev/null

# ---- The real binary on a free loopback port, believing X-Forwarded-For
# from NGINX (127.0.0.1) only.
if [ -n "${TICKETAPI_BIN:-}" ]; then
	bin=$TICKETAPI_BIN
else
	say "building ticketapi"
	bin=$work/ticketapi
	CGO_ENABLED=0 go build -o "$bin" .
fi
# The shipped config (trusted_proxies 127.0.0.1 and ::1) with the test's
# address and database, and each instance's metrics on a free port.
sed -e 's/example\.com/localhost/g' -e 's/"metrics_addr": "127\.0\.0\.1:9464"/"metrics_addr": "127.0.0.1:0"/' \
	deploy/config.json >"$work/config.json"
grep -q '"metrics_addr": "127.0.0.1:0"' "$work/config.json" || fail "deploy/config.json has no metrics_addr 127.0.0.1:9464"
database=$work/ticketapi.db
instances=1
if [ -n "${E2E_DATABASE_URL:-}" ]; then
	database=$E2E_DATABASE_URL
	instances=2
fi
secret=$(openssl rand -hex 32) # every instance signs with the same key
# start_server LOG VAR: one instance on a free loopback port; its pid in VAR.
start_server() {
	: >"$work/$1"
	TICKETAPI_SECRET_KEY=$secret TICKETAPI_ADMIN_PASSWORD=$admin_password \
		"$bin" serve -config "$work/config.json" -addr 127.0.0.1:0 -db "$database" 2>"$work/$1" &
	printf -v "$2" '%s' "$!"
}
# address_of LOG PID: the address the instance logged once it listens.
address_of() {
	local addr=
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*msg="ticketapi listening" addr=\([0-9.:]*\).*/\1/p' "$work/$1")
		[ -n "$addr" ] && break
		kill -0 "$2" 2>/dev/null || fail "ticketapi ($1) exited at start"
		sleep 0.1
	done
	[ -n "$addr" ] || fail "ticketapi ($1) did not log its address"
	echo "$addr"
}
say "starting ticketapi ($instances instance(s))"
start_server server.log server_pid
if [ "$instances" = 2 ]; then start_server server2.log server2_pid; fi
app_addr=$(address_of server.log "$server_pid")
app2_addr=
if [ "$instances" = 2 ]; then app2_addr=$(address_of server2.log "$server2_pid"); fi

# ---- nginx -t on the shipped file, with the certificate, log and webroot
# paths pointing into the temp dir.
wrap() { # wrap SITE-FILE OUT: a top-level config running as this user
	local temps="" m
	for m in fastcgi uwsgi scgi; do
		"$nginx" -V 2>&1 | grep -q -- "--without-http_${m}_module" || temps+="  ${m}_temp_path $work/tmp/$m;"$'\n'
	done
	cat >"$2" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root root;")
events { worker_connections 64; }
http {
  access_log $work/logs/access.log;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
$temps  include $1;
}
EOF
}
paths=(-e "s#/etc/letsencrypt/live/example.com/#$live/#" -e "s#/var/log/nginx/#$work/logs/#"
	-e "s#/var/www/letsencrypt#$work/www#")
# nginx -t binds the listeners: a user other than root gets the high ports,
# a host without IPv6 no [::] listeners.
shipped=()
if [ "$(id -u)" != 0 ]; then
	shipped+=(-e "s#listen \(\[::\]:\)\{0,1\}80;#listen \1$http_port;#" -e "s#listen \(\[::\]:\)\{0,1\}443 #listen \1$https_port #")
fi
[ -s /proc/net/if_inet6 ] || shipped+=(-e "/listen \[::\]:/d")
sed "${paths[@]}" "${shipped[@]}" deploy/nginx.conf >"$work/shipped.conf"
wrap "$work/shipped.conf" "$work/nginx-shipped.conf"
say "nginx -t on deploy/nginx.conf"
"$nginx" -t -q -p "$work" -e "$work/logs/error.log" -c "$work/nginx-shipped.conf" ||
	fail "nginx -t refuses deploy/nginx.conf"

# ---- The site rendered for the test: loopback high ports, the server's
# port, server_name localhost. Each substitution must have matched.
sed "${paths[@]}" \
	-e "s#example.com#localhost#g" \
	-e "s#^\( *\)listen 80;#\1listen 127.0.0.1:$http_port;#" \
	-e "s#^\( *\)listen 443 ssl http2;#\1listen 127.0.0.1:$https_port ssl http2;#" \
	-e "/listen \[::\]:/d" \
	-e "s#server 127.0.0.1:8000 #server $app_addr #" \
	${app2_addr:+-e "s@# server 127.0.0.1:8001 @server $app2_addr @"} \
	deploy/nginx.conf >"$work/site.conf"
for want in "listen 127.0.0.1:$http_port;" "listen 127.0.0.1:$https_port ssl http2;" "server $app_addr max_fails" \
	${app2_addr:+"server $app2_addr max_fails"} \
	"ssl_certificate     $live/fullchain.pem;" "ssl_certificate_key $live/privkey.pem;" "server_name localhost;"; do
	grep -qF -- "$want" "$work/site.conf" || fail "rendering deploy/nginx.conf: no line '$want' (did its layout change?)"
done
if grep -v '^ *#' "$work/site.conf" | grep -E 'listen (80|443)|example\.com|/etc/letsencrypt|/var/log'; then
	fail "rendering deploy/nginx.conf left the lines above unsubstituted"
fi
wrap "$work/site.conf" "$work/nginx.conf"
"$nginx" -t -q -p "$work" -e "$work/logs/error.log" -c "$work/nginx.conf" || fail "nginx -t refuses the rendered site"
say "starting nginx on 127.0.0.1:$http_port and :$https_port"
"$nginx" -p "$work" -e "$work/logs/error.log" -c "$work/nginx.conf" || fail "nginx did not start"

# Every request goes to 127.0.0.1 (nginx listens on IPv4 only here) and
# verifies the certificate against the test CA.
tls=(--silent --show-error --resolve "localhost:$https_port:127.0.0.1" --cacert "$work/ca.pem")
base=https://localhost:$https_port
for _ in $(seq 50); do
	curl "${tls[@]}" -o /dev/null "$base/healthz" 2>/dev/null && break
	sleep 0.1
done

# api METHOD PATH [curl args...]: the body; fails unless the status is 200.
api() {
	local method=$1 path=$2 out status
	shift 2
	out=$(curl "${tls[@]}" -X "$method" -w '\n%{http_code}' "$@" "$base$path") || fail "$method $path: curl failed"
	status=${out##*$'\n'}
	[ "$status" = 200 ] || fail "$method $path answered $status: ${out%$'\n'*}"
	printf '%s' "${out%$'\n'*}"
}
# field NAME JSON: a string or number field of a flat JSON object.
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2" | head -n 1; }

say "HTTPS: health, TLS, headers"
headers=$(curl "${tls[@]}" -D - -o "$work/body" -w 'http_version=%{http_version}\n' "$base/readyz") || fail "GET /readyz over HTTPS"
grep -q '"status":"ok"' "$work/body" || fail "GET /readyz: $(cat "$work/body")"
grep -qi '^strict-transport-security: max-age=63072000' <<<"$headers" || fail "no HSTS header: $headers"
grep -q '^http_version=2$' <<<"$headers" || fail "not HTTP/2: $headers"
grep -qi '^server: nginx\s*$' <<<"$headers" || fail "NGINX shows its version or is missing: $(grep -i '^server:' <<<"$headers")"
if curl --silent --resolve "localhost:$https_port:127.0.0.1" -o /dev/null "$base/healthz"; then
	fail "curl trusted the test certificate without the test CA"
fi
# TLS 1.2 and 1.3 only (the client side here would allow TLS 1.1).
for version in tls1_2 tls1_3; do
	openssl s_client -connect "127.0.0.1:$https_port" -servername localhost -"$version" \
		-CAfile "$work/ca.pem" -verify_return_error </dev/null >/dev/null 2>&1 || fail "no $version handshake"
done
if openssl s_client -connect "127.0.0.1:$https_port" -servername localhost -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	</dev/null >/dev/null 2>&1; then
	fail "NGINX accepted TLS 1.1"
fi

say "HTTPS: the API's happy path"
token=$(field access_token "$(api POST /api/v1/token -d username=admin --data-urlencode "password=$admin_password")")
[ -n "$token" ] || fail "login gave no access_token"
auth=(-H "Authorization: Bearer $token")
json=(-H 'Content-Type: application/json')
me=$(api GET /api/v1/me "${auth[@]}")
[ "$(field username "$me")" = admin ] || fail "/me: $me"
employee=$(api POST /api/v1/employee/ "${auth[@]}" "${json[@]}" -d '{"first_name": "Olena", "last_name": "Shevchenko",
  "nick_name": "Olena", "phone": "+380504430002", "email": "olena@example.com", "birthday": "1998-06-01",
  "country": "Ukraine", "city": "Lviv", "address": "Khreschatyk St, 14, UA 01001"}')
employee_id=$(field id "$employee")
[ -n "$employee_id" ] || fail "employee: $employee"
ticket=$(api POST "/api/v1/ticket/$employee_id" "${auth[@]}" "${json[@]}" \
	-d '{"title": "Through NGINX", "description": "Sent over HTTPS.", "status": "New"}')
ticket_id=$(field id "$ticket")
if [ "$(field title "$ticket")" != "Through NGINX" ] || [ -z "$ticket_id" ]; then fail "ticket: $ticket"; fi
mine=$(api GET /api/v1/ticket/my/ "${auth[@]}")
grep -q "\"id\":$ticket_id,\"title\":\"Through NGINX\"" <<<"$mine" || fail "GET /ticket/my/ lacks the ticket: $mine"
all=$(api GET /api/v1/ticket/ "${auth[@]}")
grep -q "\"id\":$ticket_id," <<<"$all" || fail "GET /ticket/ lacks the ticket: $all"

say "HTTPS: the 1 MiB body limit"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' a >"$work/big"
answer=$(curl "${tls[@]}" -w ' %{http_code} %{content_type}' "${auth[@]}" "${json[@]}" --data-binary "@$work/big" "$base/api/v1/employee/")
[ "$answer" = '{"detail":"Request body too large"}
 413 application/json' ] || fail "a body over 1 MiB answered '$answer', want the server's 413 JSON"
if cat "$work"/server*.log | grep -q 'status=413'; then
	fail "NGINX passed a body over 1 MiB on to the server"
fi

say "HTTP: redirect to HTTPS, ACME challenge served"
plain=(--silent --show-error --resolve "localhost:$http_port:127.0.0.1")
redirect=$(curl "${plain[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' "http://localhost:$http_port/api/v1/me?x=1")
[ "$redirect" = "301 https://localhost/api/v1/me?x=1" ] || fail "plain HTTP answered '$redirect', want a 301 to https://localhost/api/v1/me?x=1"
printf challenge-answer >"$work/www/.well-known/acme-challenge/e2e-token"
challenge=$(curl "${plain[@]}" -w ' %{http_code}' "http://localhost:$http_port/.well-known/acme-challenge/e2e-token")
[ "$challenge" = "challenge-answer 200" ] || fail "the ACME challenge answered '$challenge'"

say "the server logs the client NGINX forwarded, with NGINX's request id"
# From 127.0.0.2, a client that is not a trusted proxy, pretending with its
# own X-Forwarded-For and X-Request-ID.
curl "${tls[@]}" --interface 127.0.0.2 -D "$work/spoof.headers" -o /dev/null "${auth[@]}" \
	-H 'X-Forwarded-For: 6.6.6.6' -H 'X-Request-ID: client-chosen-id' "$base/api/v1/me?spoof=1" ||
	fail "request from 127.0.0.2"
rid=$(sed -n 's/^x-request-id: *\([^[:space:]]*\).*/\1/Ip' "$work/spoof.headers")
[[ $rid =~ ^[0-9a-f]{32}$ ]] || fail "X-Request-ID in the answer is '$rid', want NGINX's 32-hex id"
line=
for _ in $(seq 20); do # the log line is written once the answer is out
	line=$(cat "$work"/server*.log | grep -F "request_id=$rid " || true)
	[ -n "$line" ] && break
	sleep 0.1
done
[ -n "$line" ] || fail "no server log line with request_id=$rid"
for want in "msg=request" "method=GET" "path=/api/v1/me" "status=200" "user=admin" "client=127.0.0.2"; do
	grep -qF -- " $want" <<<" $line" || fail "server log line lacks $want: $line"
done
if cat "$work"/server*.log | grep -E 'client=6\.6\.6\.6|request_id=client-chosen-id'; then
	fail "the server believed a header the client sent itself"
fi
grep -q "request_id=$rid\$" "$work/logs/ticketapi.access.log" || fail "NGINX's access log lacks request_id=$rid"
# Requests from 127.0.0.1 (through NGINX) log 127.0.0.1: the last hop.
cat "$work"/server*.log | grep -q 'msg=request method=POST path=/api/v1/ticket/'"$employee_id"' status=200 .* client=127.0.0.1$' ||
	fail "the ticket create is not logged with client=127.0.0.1"

say "metrics: on the instance's own loopback port, never through NGINX"
for path in /metrics /api/v1/metrics; do
	answer=$(curl "${tls[@]}" -w ' %{http_code}' "$base$path")
	[ "$answer" = '{"detail":"Not Found"}
 404' ] || fail "GET $path through NGINX answered '$answer', want the API's JSON 404"
done
metrics_addr=$(sed -n 's/.*msg="metrics listening" addr=\([0-9.:]*\).*/\1/p' "$work/server.log")
if [ -z "$metrics_addr" ] || [ "$metrics_addr" = "$app_addr" ]; then fail "no metrics listener of its own: '$metrics_addr'"; fi
curl --silent --show-error "http://$metrics_addr/metrics" >"$work/metrics" || fail "GET /metrics on $metrics_addr"
grep -q '^ticketapi_http_requests_total{method="POST",route="POST /token",status="200"} [1-9]' "$work/metrics" ||
	fail "the metrics do not count the logins sent through NGINX: $(grep '^ticketapi_http_requests_total' "$work/metrics")"
if grep -F -e "$admin_password" -e "$token" -e "/api/v1/" "$work/metrics"; then
	fail "the metrics hold a password, a token or a path"
fi

if [ "$instances" = 2 ]; then
	say "two instances: both serve, a token from one works on the other, one dies and the service goes on"
	for _ in $(seq 20); do api GET /api/v1/me "${auth[@]}" >/dev/null; done
	for f in server.log server2.log; do
		n=$(grep -c 'msg=request method=GET path=/api/v1/me status=200' "$work/$f" || true)
		[ "$n" -gt 0 ] || fail "$f: no GET /me reached this instance; NGINX did not spread the requests"
	done
	kill -KILL "$server2_pid"
	wait "$server2_pid" 2>/dev/null || true
	server2_pid=
	for _ in $(seq 10); do
		[ "$(field username "$(api GET /api/v1/me "${auth[@]}")")" = admin ] || fail "/me after an instance died"
	done
	after=$(api POST "/api/v1/ticket/$employee_id" "${auth[@]}" "${json[@]}" \
		-d '{"title": "After a failover", "description": "One instance left.", "status": "New"}')
	[ "$(field title "$after")" = "After a failover" ] || fail "a write after an instance died: $after"
fi

say "stopping"
kill "$(cat "$work/nginx.pid")"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=
[ "$rc" = 0 ] || fail "ticketapi exited with status $rc after SIGTERM"
grep -q 'msg=stopped' "$work/server.log" || fail "ticketapi did not log its clean stop"
say "PASS e2e/nginx.sh"
