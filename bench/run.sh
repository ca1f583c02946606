#!/usr/bin/env bash
# Load harness of ticketapi. Run from the repository root:
#
#   bash bench/run.sh                 # everything but the data growth (about 16 minutes)
#   MIXED=only bash bench/run.sh      # only the mixed workload, the uncached list
#                                     # and PocketBase side by side (about 10 minutes)
#   PEER=0 bash bench/run.sh          # without PocketBase (no Go 1.27 needed)
#   SCALE=1 bash bench/run.sh         # that, then "flat cost as data grows" (8 min)
#   SCALE=only bash bench/run.sh      # only the data-growth part
#   AUDIT=only bash bench/run.sh      # only what the audit trail costs (about 4 minutes)
#   QUICK=1 bash bench/run.sh         # 3-second runs: a smoke test
#   BENCH_DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DB bash bench/run.sh
#                                     # the same on PostgreSQL (any of the above)
#
# It installs wrk and sqlite3 (Debian packages) when missing, builds the
# server, a bare net/http "ceiling" server (bench/ceiling), a hash-rate
# probe (bench/hashrate) and PocketBase (bench/peers/pocketbase, its own
# module), starts each server on a free
# loopback port with a fresh database, seeds data with sqlite3, measures
# with wrk for a fixed time at 16 and 64 connections, and prints one table
# row per measurement: requests/s, p50/p99 latency, errors (answers of 400
# or more, socket errors, timeouts), the server's peak RSS during that
# measurement, read figures as a ratio to the ceiling measured just
# before and just after each of them, and logins as a ratio to the hash
# capacity measured the same way.
# The parts:
#   throughput   GET /me, one employee, 100 employees (the answer cache
#                helps: nothing changes), ticket creation, logins, a login
#                burst, all against the ceiling or the hash capacity
#   mixed        the mixed workload (bench/mixed.lua: random employees,
#                90% GET /employee/{id}, 10% POST /ticket/{id}, so the data
#                grows), then with lists (10% of the requests an employee's
#                open tickets, newest first), the uncached list (bench/pages.lua: 100 employees
#                with 5 tickets each, a different page every request), and
#                PocketBase beside ticketapi: the same operations on the
#                same data, ticketapi ÷ PocketBase side by side; a CPU
#                profile of ticketapi during the mixed workload
#   scale        flat cost as data grows (SCALE), filtered lists included
#   audit        the audit trail's cost: ticket creation (64 connections) and
#                the mixed workload (16, 64) on the normal build and on one
#                built with -tags noaudit (audit_off.go: no entries), side by
#                side on fresh instances, taking turns in short slices
# Then it checks the targets (every one is listed; those of a part not run
# say so). The report goes to stdout and to $OUT; progress goes to stderr.
#
# Settings (environment):
#   DURATION=10s        length of each measurement
#   QUICK=1             DURATION=3s, shorter login and mixed runs, a burst of 50
#   WARMUP=2s           an unrecorded wrk run before each route's measurements;
#   FIRST_WARMUP=5s     longer for the first route after a start, so that the
#                       memory of the startup's password hashes is returned
#   MIXED=1|0|only      the mixed part: yes (default) / no / only it
#   PEER=1|0            PocketBase in the mixed part: yes (default) / no
#   MIXED_DURATION=20s  each mixed-workload run
#   MIXED_WRITES=10     the mixed workload's share of writes, percent
#   MIXED_LISTS=10      the share of lists in its second run, percent
#   LIST_EMPLOYEES=20000  the uncached list's employees (5 tickets each): the
#                       pages asked for in one run are all different while
#                       a run asks for fewer than LIST_EMPLOYEES - 99
#   PROFILE=1           a CPU profile of ticketapi (go tool pprof, -seconds
#   PROFILE_SECONDS=10  PROFILE_SECONDS) during an extra, unrecorded mixed run
#                       with 16 connections; its top 25 (flat and cumulative)
#                       go into the report; 0: none
#   PB_GOTOOLCHAIN      the Go toolchain that builds PocketBase (it needs Go
#                       1.27): the local go when it is 1.27 or newer, else
#                       go1.27.3 (fetched through the module proxy)
#   SCALE=0|1|only      the data-growth part: no (default) / also / only it
#   OUT=bench/last-run.md
#   THREADS=2           wrk threads
#   LOGIN_DURATION=20s  the 16- and 64-connection login runs (wrk)
#   LOGIN_C200_DURATION=30s   the 200-connection login run (wrk)
#   BURST=200           concurrent logins fired at once with curl
#   HASHRATE_DURATION=5s  each hash-capacity probe
#   SCALE_TICKETS=1000000 SCALE_EMPLOYEES=10000 SMALL_TICKETS=1000
#   AUDIT=1|0|only      the audit part: yes (default) / no / only it
#   AUDIT_ROUNDS=5      its slices for each build and scenario, taking turns
#   AUDIT_SLICE=4s      the length of each
#   REF=<git ref>       build the server from that commit instead of the
#                       working tree (e.g. REF=HEAD~3 to compare before/after)
#   BENCH_DATABASE_URL=postgres://...  run on PostgreSQL instead of SQLite:
#                       each server gets a fresh schema bench_<pid>_<name>
#                       (created with psql, named in the URL's search_path,
#                       dropped on exit), seeded by bench/seed-postgres.sql;
#                       the role needs CREATE on the database. The report
#                       then goes to bench/last-run-postgres.md by default,
#                       and its peak RSS is ticketapi's alone (PostgreSQL's
#                       memory is not counted). PocketBase stays on its own
#                       SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DURATION=${DURATION:-3s}
  LOGIN_DURATION=${LOGIN_DURATION:-3s}
  LOGIN_C200_DURATION=${LOGIN_C200_DURATION:-3s}
  BURST=${BURST:-50}
  HASHRATE_DURATION=${HASHRATE_DURATION:-2s}
  WARMUP=${WARMUP:-1s}
  FIRST_WARMUP=${FIRST_WARMUP:-3s}
  MIXED_DURATION=${MIXED_DURATION:-3s}
  PROFILE_SECONDS=${PROFILE_SECONDS:-3}
  AUDIT_ROUNDS=${AUDIT_ROUNDS:-2}
  AUDIT_SLICE=${AUDIT_SLICE:-2s}
fi
AUDIT_ROUNDS=${AUDIT_ROUNDS:-5}
AUDIT_SLICE=${AUDIT_SLICE:-4s}
WARMUP=${WARMUP:-2s}
FIRST_WARMUP=${FIRST_WARMUP:-5s}
DURATION=${DURATION:-10s}
# Logins come at about 8/s: 10 s would hold only some 80 of them, and the
# first answers come only after a hash's time (a quarter of a second), which
# a short run counts against the server.
LOGIN_DURATION=${LOGIN_DURATION:-20s}
LOGIN_C200_DURATION=${LOGIN_C200_DURATION:-30s}
BURST=${BURST:-200}
HASHRATE_DURATION=${HASHRATE_DURATION:-5s}
SCALE=${SCALE:-0}
MIXED=${MIXED:-1}
PEER=${PEER:-1}
MIXED_DURATION=${MIXED_DURATION:-20s}
AUDIT=${AUDIT:-1}
MIXED_WRITES=${MIXED_WRITES:-10}
MIXED_LISTS=${MIXED_LISTS:-10}
LIST_EMPLOYEES=${LIST_EMPLOYEES:-20000}
PROFILE=${PROFILE:-1}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
case "$SCALE" in 0 | 1 | only) ;; *) echo "bench: SCALE must be 0, 1 or only" >&2; exit 1 ;; esac
case "$MIXED" in 0 | 1 | only) ;; *) echo "bench: MIXED must be 0, 1 or only" >&2; exit 1 ;; esac
case "$PEER" in 0 | 1) ;; *) echo "bench: PEER must be 0 or 1" >&2; exit 1 ;; esac
case "$AUDIT" in 0 | 1 | only) ;; *) echo "bench: AUDIT must be 0, 1 or only" >&2; exit 1 ;; esac
# ONLY: the part named X=only, if any.
ONLY=""
for part in MIXED SCALE AUDIT; do
  [ "${!part}" != only ] && continue
  [ -z "$ONLY" ] || { echo "bench: $ONLY=only and $part=only exclude each other" >&2; exit 1; }
  ONLY=$part
done
# The parts this run measures.
RUN_THROUGHPUT=1 RUN_MIXED=0 RUN_SCALE=0 RUN_AUDIT=0
[ -z "$ONLY" ] || RUN_THROUGHPUT=0
{ [ "$ONLY" = MIXED ] || { [ "$MIXED" = 1 ] && [ -z "$ONLY" ]; }; } && RUN_MIXED=1
{ [ "$ONLY" = SCALE ] || { [ "$SCALE" = 1 ] && [ -z "$ONLY" ]; }; } && RUN_SCALE=1
{ [ "$ONLY" = AUDIT ] || { [ "$AUDIT" = 1 ] && [ -z "$ONLY" ]; }; } && RUN_AUDIT=1
RUN_PEER=$((RUN_MIXED && PEER))
BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-}
DB_KIND=sqlite
[ -z "$BENCH_DATABASE_URL" ] || DB_KIND=postgres
if [ "$DB_KIND" = postgres ]; then OUT=${OUT:-bench/last-run-postgres.md}; fi
OUT=${OUT:-bench/last-run.md}
THREADS=${THREADS:-2}
SCALE_TICKETS=${SCALE_TICKETS:-1000000}
SCALE_EMPLOYEES=${SCALE_EMPLOYEES:-10000}
SMALL_TICKETS=${SMALL_TICKETS:-1000}
REF=${REF:-}

# Targets that differ on PostgreSQL (a round trip to another process per
# query): one employee against the ceiling, the mixed workload against
# PocketBase (which stays on its own SQLite).
EMPLOYEE_TARGET=0.35 MIXED_PEER_TARGET=5
if [ "$DB_KIND" = postgres ]; then EMPLOYEE_TARGET=0.2 MIXED_PEER_TARGET=2; fi

ADMIN_PASSWORD='BenchPassw0rd!'
BENCH_USER=benchuser
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
LOGIN_FORM="username=admin&password=$ADMIN_PASSWORD"
TICKET_JSON='{"title":"Benchmark ticket","description":"Filed by the load harness","status":"open"}'

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# ---- tools ----
need=()
for tool in wrk sqlite3 jq curl; do
  [ "$tool:$DB_KIND" != sqlite3:postgres ] || tool=psql # seeding
  command -v "$tool" >/dev/null || need+=("${tool/#psql/postgresql-client}")
done
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${need[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# ---- processes: every one we start is stopped on exit ----
tmp=$(mktemp -d)
SERVER_PID="" CEILING_PID="" SERVER_DIR="" PB_PID=""
cleanup() {
  local pid
  for pid in $SERVER_PID $CEILING_PID $PB_PID $AUDIT_PIDS; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $SERVER_PID $CEILING_PID $PB_PID $AUDIT_PIDS; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PostgreSQL ----
# pg ARGS...: psql on BENCH_DATABASE_URL, stopping at the first error.
pg() { psql "$BENCH_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }
# The URL without its password, for the report.
redacted_url() { sed -E 's#^([a-z]+://[^:/@]+):[^@/]*@#\1:xxxxx@#; s#([?&]password=)[^&]*#\1xxxxx#' <<<"$BENCH_DATABASE_URL"; }
# schema_of DIR: the PostgreSQL schema of the server instance in DIR.
schema_of() { echo "bench_$$_${1##*/}"; }
SCHEMAS=()
drop_schemas() {
  local schema
  for schema in "${SCHEMAS[@]}"; do
    pg -c "DROP SCHEMA IF EXISTS $schema CASCADE" 2>/dev/null || say "could not drop schema $schema"
  done
}
ON_DB="" PG_VERSION=""
if [ "$DB_KIND" = postgres ]; then
  case $BENCH_DATABASE_URL in
    postgres://* | postgresql://*) ;;
    *) die "BENCH_DATABASE_URL must start with postgres:// or postgresql://" ;;
  esac
  case $BENCH_DATABASE_URL in *search_path=*) die "BENCH_DATABASE_URL must not set search_path: the harness sets it" ;; esac
  PG_VERSION=$(pg -Atc 'SHOW server_version') || die "cannot connect to $(redacted_url)"
  PG_VERSION=${PG_VERSION%% *}
  PG_SHARED_BUFFERS=$(pg -Atc 'SHOW shared_buffers')
  ON_DB=" on PostgreSQL $PG_VERSION"
  trap 'cleanup; drop_schemas' EXIT
fi

# src: the server's source (and its config.json and openapi.json).
src=$PWD
if [ -n "$REF" ]; then
  src=$tmp/src
  mkdir -p "$src"
  git archive "$REF" | tar -x -C "$src"
fi
say "building into $tmp${REF:+ (server from $REF)}"
(cd "$src" && CGO_ENABLED=0 go build -o "$tmp/ticketapi" .)
# The build without the audit trail, for the audit part only (a server
# from before audit_off.go has no such build: -tags noaudit would change
# nothing).
NOAUDIT_NOTE=""
if ((RUN_AUDIT)); then
  if [ -f "$src/audit_off.go" ]; then
    (cd "$src" && CGO_ENABLED=0 go build -tags noaudit -o "$tmp/ticketapi-noaudit" .)
  else
    RUN_AUDIT=0 NOAUDIT_NOTE="this ticketapi has no build without the trail (audit_off.go)"
  fi
fi
go build -o "$tmp/ceiling" ./bench/ceiling
go build -o "$tmp/hashrate" ./bench/hashrate
# PocketBase: its own module (bench/peers/pocketbase), so ticketapi's module
# never depends on it; PocketBase v0.40 needs Go 1.27, which the go command
# fetches through the module proxy when the local one is older.
PB_VERSION=""
if ((RUN_PEER)); then
  if [ -z "${PB_GOTOOLCHAIN:-}" ]; then
    PB_GOTOOLCHAIN=go1.27.3
    case $(go env GOVERSION) in go1.2[7-9]* | go1.[3-9]*) PB_GOTOOLCHAIN=local ;; esac
  fi
  say "building PocketBase (GOTOOLCHAIN=$PB_GOTOOLCHAIN)"
  (cd bench/peers/pocketbase && GOTOOLCHAIN=$PB_GOTOOLCHAIN CGO_ENABLED=0 go build -o "$tmp/pocketbase-peer" .) || die "could not build PocketBase (bench/peers/pocketbase)"
  PB_VERSION=$(cd bench/peers/pocketbase && GOTOOLCHAIN=$PB_GOTOOLCHAIN go list -m -f '{{.Version}}' github.com/pocketbase/pocketbase)
  PB_GO=$(cd bench/peers/pocketbase && GOTOOLCHAIN=$PB_GOTOOLCHAIN go env GOVERSION)
fi

# ---- the server ----
# new_instance DIR: a fresh folder with a config: free loopback ports (API and metrics), the
# database in DIR, throttling and rate limits no benchmark reaches (one user
# makes every request: the limiter still runs, it never refuses or holds
# back), a short drain.
# On PostgreSQL the database is a new schema, DIR's name, in
# BENCH_DATABASE_URL; the server creates the tables in it when it starts.
new_instance() {
  local dir=$1 db=$1/ticketapi.db schema
  mkdir -p "$dir"
  if [ "$DB_KIND" = postgres ]; then
    schema=$(schema_of "$dir")
    SCHEMAS+=("$schema")
    pg -c "CREATE SCHEMA $schema" || die "could not create schema $schema"
    case $BENCH_DATABASE_URL in
      *\?*) db="$BENCH_DATABASE_URL&search_path=$schema" ;;
      *) db="$BENCH_DATABASE_URL?search_path=$schema" ;;
    esac
  fi
  jq --arg db "$db" '
      .listen_addr = "127.0.0.1:0" | .metrics_addr = "127.0.0.1:0" | .database_url = $db | .shutdown_timeout_seconds = 2
    | .login_throttle.max_failures_per_user = 1000000
    | .login_throttle.max_failures_per_client = 1000000
    | .rate_limit.requests_per_second = 1000000000 | .rate_limit.burst = 1000000000
    | .rate_limit.concurrent_writes = 1000' "$src/config.json" >"$dir/config.json"
}

# start_server DIR: starts ticketapi on DIR's config; sets SERVER_PID, BASE.
# The log is appended to DIR/server.log (one line per request; it is
# emptied after each measurement so the disk does not fill up).
# seed DIR EMPLOYEES TICKETS TICKETED MINE_EVERY MINE_OWNER [RARE_EVERY]: writes
# the seed data (see bench/seed.sql for what the numbers mean) into DIR's
# database, with sqlite3 or, on PostgreSQL, psql and bench/seed-postgres.sql.
seed() {
  local dir=$1
  if [ "$DB_KIND" = postgres ]; then
    pg -v schema="$(schema_of "$dir")" -v employees="$2" -v tickets="$3" -v ticketed="$4" \
      -v mine_every="$5" -v mine_owner="$6" -v rare_every="${7:-0}" -f bench/seed-postgres.sql >/dev/null
  else
    sqlite3 "$dir/ticketapi.db" ".parameter init" \
      ".parameter set :employees $2" ".parameter set :tickets $3" ".parameter set :ticketed $4" \
      ".parameter set :mine_every $5" ".parameter set :mine_owner $6" ".parameter set :rare_every ${7:-0}" \
      ".read bench/seed.sql" >/dev/null
    # A bulk load ends with each text index (search.go) in one segment, as
    # the migration leaves it after indexing a database's rows (a server
    # built with REF from before the text indexes has none).
    local fts
    for fts in tickets_text employees_text; do
      if [ -n "$(sqlite3 "$dir/ticketapi.db" "SELECT 1 FROM sqlite_master WHERE name = '$fts'")" ]; then
        sqlite3 "$dir/ticketapi.db" "INSERT INTO $fts ($fts) VALUES ('optimize')" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
      fi
    done
  fi
}

# db_size_mb DIR: the size of DIR's database (on PostgreSQL: its schema's
# tables with their indexes; whole MB, rounded up like du -m).
db_size_mb() {
  if [ "$DB_KIND" = postgres ]; then
    pg -Atc "SELECT ceil(coalesce(sum(pg_total_relation_size(c.oid)), 0) / 1048576.0)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = '$(schema_of "$1")' AND c.relkind = 'r'"
  else
    du -m "$1/ticketapi.db" | cut -f1
  fi
}

# SERVER_ARGS: more arguments of `ticketapi serve` (e.g. -pprof 127.0.0.1:0);
# PPROF is then the profiler's address.
SERVER_ARGS=()
SERVER_BIN=$tmp/ticketapi # the audit part swaps in $tmp/ticketapi-noaudit
start_server() {
  local dir=$1 addr="" i
  : >"$dir/server.log"
  TICKETAPI_ADMIN_PASSWORD=$ADMIN_PASSWORD TICKETAPI_SECRET_KEY=$SECRET \
    "$SERVER_BIN" serve -config "$dir/config.json" "${SERVER_ARGS[@]}" 2>>"$dir/server.log" &
  SERVER_PID=$!
  SERVER_DIR=$dir
  for ((i = 0; i < 300; i++)); do
    addr=$(sed -n 's/.*msg="ticketapi listening" addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$dir/server.log")
    [ -n "$addr" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "the server did not start"; }
    sleep 0.1
  done
  [ -n "$addr" ] || die "the server did not report its address"
  BASE="http://$addr/api/v1"
  PPROF=$(sed -n 's/.*msg="profiler listening" addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$dir/server.log" | head -1)
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

start_ceiling() {
  : >"$tmp/ceiling.out"
  "$tmp/ceiling" >>"$tmp/ceiling.out" 2>&1 &
  CEILING_PID=$!
  local addr="" i
  for ((i = 0; i < 100; i++)); do
    addr=$(sed -n 's/^listening \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$tmp/ceiling.out")
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || die "the ceiling server did not start"
  CEILING_URL="http://$addr/api/v1/me"
}

stop_ceiling() {
  kill -TERM "$CEILING_PID" 2>/dev/null || true
  wait "$CEILING_PID" 2>/dev/null || true
  CEILING_PID=""
}

# login USER PASSWORD: prints a bearer token.
login() {
  curl -sS --fail-with-body -X POST -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode "username=$1" --data-urlencode "password=$2" "$BASE/token" | jq -er .access_token
}

# expect_ok PATH TOKEN JQ-CHECK: the route answers 200 with a body passing
# the check, so no benchmark measures a stream of errors.
expect_ok() {
  local body
  body=$(curl -sS --fail-with-body -H "Authorization: Bearer $2" "$BASE$1") || die "GET $1 failed: $body"
  jq -e "$3" >/dev/null <<<"$body" || die "GET $1: unexpected answer (check $3): ${body:0:300}"
}

# ---- measuring ----
vm_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

PEAK_MODE=""
# reset_peak PID: starts a new peak-RSS window (VmHWM) for PID. Linux resets
# VmHWM to the current RSS when 5 is written to clear_refs; where that is
# not allowed, the server is restarted instead (the ceiling has no peak
# worth a restart).
reset_peak() {
  local pid=$1
  if [ -z "$PEAK_MODE" ]; then
    if echo 5 >"/proc/$pid/clear_refs" 2>/dev/null; then PEAK_MODE=clear_refs; else PEAK_MODE=restart; fi
    say "peak RSS per measurement: $PEAK_MODE"
  fi
  if [ "$PEAK_MODE" = clear_refs ]; then
    echo 5 >"/proc/$pid/clear_refs"
  elif [ "$pid" = "$SERVER_PID" ]; then
    stop_server
    start_server "$SERVER_DIR"
    TARGET_PID=$SERVER_PID
  fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# wait_idle PID: waits (up to 3 minutes) until PID uses under 5% of a CPU,
# e.g. while the server still hashes logins a stopped wrk left queued; sets
# IDLE_AFTER to the seconds that took.
wait_idle() {
  local pid=$1 a b t0=$SECONDS
  for _ in $(seq 360); do
    a=$(cpu_ticks "$pid")
    sleep 0.5
    b=$(cpu_ticks "$pid")
    if (((b - a) * 100 < 5 * 50)); then # ticks are 1/100 s
      IDLE_AFTER=$((SECONDS - t0))
      return 0
    fi
  done
  IDLE_AFTER=$((SECONDS - t0))
  say "warning: pid $pid is still busy"
}

# warmup URL [DURATION]: an unrecorded run with the REQ_* request
# (connection pools, page cache, and after a start the first garbage
# collections, which return the memory the startup's password hashes left).
warmup() {
  local url=$1 dur=${2:-$WARMUP}
  [ "$url" = "${url#http}" ] && url="$BASE$url"
  BENCH_METHOD=$REQ_METHOD BENCH_BODY=$REQ_BODY BENCH_CTYPE=$REQ_CTYPE BENCH_TOKEN=$REQ_TOKEN \
    wrk -t"$THREADS" -c16 -d"$dur" -s "$REQ_SCRIPT" "$url" >/dev/null
  [ -z "$SERVER_DIR" ] || : >"$SERVER_DIR/server.log"
  wait_idle "$TARGET_PID"
}

# rss_mb PID FIELD: VmRSS or VmHWM in MB.
rss_mb() { awk -v k="$(vm_kib "$1" "$2")" 'BEGIN { printf "%.1f", k / 1024 }'; }

declare -A RPS P50 P99 ERR RSS LABEL ERRTXT AROUND RATIO_TEXT WRITES
ROWS=()
# The request of the next warm-up or measurement: bench/wrk.lua sends
# REQ_METHOD with REQ_BODY of type REQ_CTYPE and REQ_TOKEN; bench/mixed.lua
# and bench/pages.lua take their settings from BENCH_* variables.
REQ_SCRIPT=bench/wrk.lua
REQ_METHOD=GET REQ_BODY="" REQ_CTYPE="" REQ_TOKEN="" IDLE_AFTER=0 DRAIN=0

# fmt_lat MICROSECONDS
fmt_lat() {
  awk -v u="$1" 'BEGIN {
    if (u < 10000) printf "%.2f ms", u / 1000
    else if (u < 1000000) printf "%.1f ms", u / 1000
    else printf "%.2f s", u / 1000000 }'
}

# measure KEY LABEL CONNS URL [DURATION] [TIMEOUT]: one wrk run against
# TARGET_PID with the REQ_* request; fills RPS/P50/P99/ERR/RSS[KEY/CONNS].
measure() {
  local key=$1 label=$2 conns=$3 url=$4 dur=${5:-$DURATION} timeout=${6:-10s} out line kv k
  local w_requests w_duration_us w_p50_us w_p99_us w_status w_connect w_read w_write w_timeout
  local w_sent_reads=0 w_sent_writes=0 w_sent_lists=0
  reset_peak "$TARGET_PID"
  [ "$url" = "${url#http}" ] && url="$BASE$url" # a path: under the current server
  out=$(BENCH_METHOD=$REQ_METHOD BENCH_BODY=$REQ_BODY BENCH_CTYPE=$REQ_CTYPE BENCH_TOKEN=$REQ_TOKEN \
    wrk -t"$THREADS" -c"$conns" -d"$dur" --timeout "$timeout" --latency -s "$REQ_SCRIPT" "$url")
  line=$(grep '^BENCH ' <<<"$out") || die "no summary from wrk: $out"
  for kv in ${line#BENCH }; do
    k=${kv%%=*}
    printf -v "w_$k" '%s' "${kv#*=}"
  done
  kill -0 "$TARGET_PID" 2>/dev/null || die "the server died during $label"
  local id="$key/$conns"
  RPS[$id]=$(awk -v n="$w_requests" -v d="$w_duration_us" 'BEGIN { r = n / (d / 1e6); printf (r < 100 ? "%.1f" : "%.0f"), r }')
  P50[$id]=$w_p50_us
  P99[$id]=$w_p99_us
  ERR[$id]=$((w_status + w_connect + w_read + w_write + w_timeout))
  RSS[$id]=$(awk -v k="$(vm_kib "$TARGET_PID" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
  local errs=${ERR[$id]}
  if ((w_timeout > 0 || w_status > 0)); then errs="$errs (≥400: $w_status, timeouts: $w_timeout)"; fi
  LABEL[$id]=$label ERRTXT[$id]=$errs WRITES[$id]=$w_sent_writes
  say "  $label c$conns: ${RPS[$id]} req/s, p50 $(fmt_lat "${P50[$id]}"), p99 $(fmt_lat "${P99[$id]}"), errors $errs, peak RSS ${RSS[$id]} MB"
  [ -z "$SERVER_DIR" ] || : >"$SERVER_DIR/server.log"
  wait_idle "$TARGET_PID"
  ((IDLE_AFTER < 3)) || say "  (the server stayed busy for $IDLE_AFTER s after wrk stopped)"
}

# row_text ID RATIO: a table row for measurement ID (KEY/CONNS), all but
# its last cell and the closing bar.
row_text() {
  local id=$1
  printf '| %s | %s | %s | %s | %s | %s | %s MB | %s |' "${LABEL[$id]}" "${id##*/}" "${RPS[$id]}" \
    "$(fmt_lat "${P50[$id]}")" "$(fmt_lat "${P99[$id]}")" "${ERRTXT[$id]}" "${RSS[$id]}" "$2"
}

# row ID ORIGINAL RATIO: a table row for measurement ID (KEY/CONNS).
row() {
  local id=$1
  ROWS+=("| ${LABEL[$id]} | ${id##*/} | ${RPS[$id]} | $(fmt_lat "${P50[$id]}") | $(fmt_lat "${P99[$id]}") | ${ERRTXT[$id]} | ${RSS[$id]} MB | $3 | $2 |")
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# around ID BEFORE AFTER WHAT: measurement ID is set against the mean of WHAT
# (the ceiling, the hash capacity) measured just before and just after it;
# fills AROUND[ID] and RATIO_TEXT[ID], the ratio as the table shows it.
around() {
  AROUND[$1]=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", (a + b) / 2 }')
  RATIO_TEXT[$1]="$(ratio "${RPS[$1]}" "${AROUND[$1]}") × $4 ($2, $3)"
}

# ---- checking targets ----
CHECKS=()
PASSED=0 FAILED=0 NOT_RUN=0
# check TARGET MEASURED OK: OK is an awk condition on nothing but numbers.
check() {
  local verdict
  if awk "BEGIN { exit !($3) }"; then verdict=PASS PASSED=$((PASSED + 1)); else verdict=FAIL FAILED=$((FAILED + 1)); fi
  CHECKS+=("| $1 | $2 | $verdict |")
}
# not_run TARGET WHY: a target of a part this run left out.
not_run() {
  CHECKS+=("| $1 | not measured: $2 | — |")
  NOT_RUN=$((NOT_RUN + 1))
}

machine() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
  if [ "$DB_KIND" = postgres ]; then
    echo "- software: $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), PostgreSQL $PG_VERSION, psql $(psql --version | awk '{print $3}') (for seeding)"
    echo "- database: PostgreSQL at \`$(redacted_url)\` (shared_buffers $PG_SHARED_BUFFERS), a fresh schema per server, dropped at the end"
  else
    echo "- software: $(go version | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), sqlite3 CLI $(sqlite3 --version | cut -d' ' -f1) (for seeding)"
  fi
  if [ -n "$REF" ]; then
    echo "- ticketapi: commit $(git rev-parse --short "$REF") (REF=$REF)"
  else
    echo "- ticketapi: commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!bench' 2>/dev/null || echo ' + uncommitted changes')"
  fi
  if ((RUN_PEER)); then
    echo "- PocketBase: $PB_VERSION (bench/peers/pocketbase, its own module), built with $PB_GO, on its own SQLite (modernc.org/sqlite)"
  fi
  local parts=()
  ((RUN_THROUGHPUT)) && parts+=(throughput)
  ((RUN_MIXED)) && parts+=("mixed$( ((RUN_PEER)) || echo ' (without PocketBase)')")
  ((RUN_SCALE)) && parts+=(scale)
  ((RUN_AUDIT)) && parts+=("audit ($AUDIT_ROUNDS slices of $AUDIT_SLICE)")
  echo "- parts: $(IFS=,; echo "${parts[*]}" | sed 's/,/, /g')"
  echo "- wrk: \`wrk -t$THREADS -c{16,64} -d$DURATION --latency -s bench/wrk.lua\` (logins: -d$LOGIN_DURATION, and -c200 -d$LOGIN_C200_DURATION; mixed workload: -d$MIXED_DURATION -s bench/mixed.lua; uncached list: -s bench/pages.lua), load generator and server on the same cores$(pg_local && echo ", and PostgreSQL too")"
  echo "- load average before the run: $LOAD_START (anything else running skews the absolute figures; ratios less so)"
}

# pg_local: whether PostgreSQL runs on this machine (a loopback host, or
# none: a Unix socket), so it shares the cores with the server and wrk.
pg_local() {
  [ "$DB_KIND" = postgres ] || return 1
  local host
  host=$(sed -E 's#^[a-z]+://([^@/]*@)?(\[[^]]*\]|[^:/?]*).*#\2#' <<<"$BENCH_DATABASE_URL")
  case $host in "" | localhost | 127.* | "[::1]") return 0 ;; *) return 1 ;; esac
}

# rss_note: what peak RSS means on PostgreSQL.
rss_note() {
  [ "$DB_KIND" = postgres ] || return 0
  echo "On PostgreSQL, peak RSS is the ticketapi process alone: PostgreSQL's own memory (its server processes,"
  echo "shared_buffers $PG_SHARED_BUFFERS) is separate and not counted."
}

REPORT=$tmp/report.md
{
  echo "# ticketapi load harness${ON_DB:+ (${ON_DB# on })}"
  echo
  machine
} >"$REPORT"

# =====================================================================
# Part 1: throughput against the ceiling
# =====================================================================
part_throughput() {
  local dir=$tmp/main conns id admin_id
  say "== throughput (each run $DURATION)"

  # The ceiling server keeps running (idle) through the reads: each read
  # figure is set against the ceiling measured just before and just after
  # it, so that a machine getting busier or quieter during the run moves
  # both sides of the ratio.
  start_ceiling
  TARGET_PID=$CEILING_PID SERVER_DIR=""
  REQ_METHOD=GET REQ_BODY="" REQ_CTYPE="" REQ_TOKEN=""
  warmup "$CEILING_URL"
  for conns in 16 64; do
    measure ceiling "bare net/http ceiling (250-byte JSON)" "$conns" "$CEILING_URL"
    row "ceiling/$conns" "—" "1.00"
  done

  new_instance "$dir"
  start_server "$dir"
  TARGET_PID=$SERVER_PID
  RSS_START=$(rss_mb "$SERVER_PID" VmRSS)
  TOKEN=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
  admin_id=$(curl -sS -H "Authorization: Bearer $TOKEN" "$BASE/me" | jq -r .id)
  [ "$admin_id" = 1 ] || die "expected the admin to be user 1, got $admin_id"
  say "seeding 100 employees with 5 tickets each (employee 101: the POST target)"
  seed "$dir" 101 500 100 1000000000 1
  expect_ok /me "$TOKEN" '.username == "admin"'
  expect_ok /employee/50 "$TOKEN" '.tickets | length == 5'
  expect_ok '/employee/?limit=100' "$TOKEN" 'length == 100 and all(.[]; (.tickets | length) == 5)'

  local original before after first=1 n=0
  for conns in 16 64; do
    TARGET_PID=$CEILING_PID SERVER_DIR="" REQ_TOKEN=""
    measure "ceiling_0" "bare net/http ceiling, before the reads" "$conns" "$CEILING_URL"
    before=${RPS[ceiling_0/$conns]}
    for spec in "me|GET /api/v1/me|/me|930" \
      "employee|GET /api/v1/employee/{id} (5 tickets)|/employee/50|470" \
      "list|GET /api/v1/employee/?limit=100 (100 × 5 tickets)|/employee/?limit=100|40"; do
      IFS='|' read -r key label path original <<<"$spec"
      TARGET_PID=$SERVER_PID SERVER_DIR=$dir REQ_TOKEN=$TOKEN
      if ((first)); then warmup "$path" "$FIRST_WARMUP"; else warmup "$path"; fi
      first=0
      measure "$key" "$label" "$conns" "$path"
      TARGET_PID=$CEILING_PID SERVER_DIR="" REQ_TOKEN=""
      n=$((n + 1))
      measure "ceiling_$n" "bare net/http ceiling, after $label" "$conns" "$CEILING_URL"
      after=${RPS[ceiling_$n/$conns]}
      around "$key/$conns" "$before" "$after" ceiling
      before=$after
    done
  done
  stop_ceiling
  TARGET_PID=$SERVER_PID SERVER_DIR=$dir REQ_TOKEN=$TOKEN
  for key in me employee list; do
    for conns in 16 64; do
      case $key in me) original=930 ;; employee) original=470 ;; list) original=40 ;; esac
      row "$key/$conns" "$original" "${RATIO_TEXT[$key/$conns]}"
    done
  done

  REQ_METHOD=POST REQ_BODY=$TICKET_JSON REQ_CTYPE=application/json
  curl -sS --fail-with-body -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    --data "$TICKET_JSON" "$BASE/ticket/101" | jq -e '.employee_id == 101' >/dev/null || die "POST /ticket/101 failed"
  warmup /ticket/101
  for conns in 16 64; do
    measure post "POST /api/v1/ticket/{id} (JSON)" "$conns" /ticket/101
    row "post/$conns" 290 ""
  done

  # Logins. What the hash cost allows (bench/hashrate, all cores hashing)
  # is measured like the ceiling: with the server idle, just before and just
  # after each login run, and the run's ratio is to the mean of the two. The
  # machine's speed for hashing moved by up to 20% within one run, so a
  # single probe for all three runs made the ratio mostly noise.
  local scheme m t p single=1e9 hashline probe
  scheme=$(jq -r '.auth.PWD_CONTEXT.schemes[0]' "$dir/config.json")
  m=$(jq -r .auth.ARGON2.memory_kib "$dir/config.json")
  t=$(jq -r .auth.ARGON2.iterations "$dir/config.json")
  p=$(jq -r .auth.ARGON2.parallelism "$dir/config.json")
  # hash_capacity: sets probe to hashes/s now, single to the fastest lone hash.
  hash_capacity() {
    hashline=$("$tmp/hashrate" -scheme "$scheme" -m "$m" -t "$t" -p "$p" \
      -cost "$(jq -r .auth.BCRYPT_COST "$dir/config.json")" -d "$HASHRATE_DURATION")
    say "  hash capacity: $hashline"
    probe=$(sed -n 's/.*hashes_per_sec=\([0-9.]*\).*/\1/p' <<<"$hashline")
    single=$(awk -v a="$single" -v b="$(sed -n 's/.*single_ms=\([0-9.]*\).*/\1/p' <<<"$hashline")" 'BEGIN { print (b < a ? b : a) }')
  }

  REQ_METHOD=POST REQ_BODY=$LOGIN_FORM REQ_CTYPE=application/x-www-form-urlencoded REQ_TOKEN=""
  # Like every route, logins get an unrecorded warm-up: the first hashes
  # after the reads fault in the heap's new pages (64 MiB a hash).
  warmup /token
  hash_capacity
  before=$probe
  for conns in 16 64 200; do
    if ((conns == 200)); then
      measure login "POST /api/v1/token (form, correct password)" 200 /token "$LOGIN_C200_DURATION" 30s
      DRAIN=$IDLE_AFTER
    else
      measure login "POST /api/v1/token (form, correct password)" "$conns" /token "$LOGIN_DURATION" 30s
    fi
    hash_capacity
    after=$probe
    around "login/$conns" "$before" "$after" "hash capacity"
    before=$after
  done

  # Exactly BURST logins at once, each given 30 s: are they all answered?
  say "  burst: $BURST concurrent logins (curl, 30 s each)"
  reset_peak "$SERVER_PID"
  local b0 b1
  b0=$(date +%s.%N)
  seq "$BURST" | xargs -P "$BURST" -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 \
    -X POST -H 'Content-Type: application/x-www-form-urlencoded' --data "$LOGIN_FORM" "$BASE/token" \
    >"$tmp/burst.txt" || true
  b1=$(date +%s.%N)
  BURST_OK=$(awk '$1 ~ /^2/' "$tmp/burst.txt" | wc -l)
  BURST_5XX=$(awk '$1 ~ /^5/' "$tmp/burst.txt" | wc -l)
  BURST_TIMEOUT=$(awk '$1 == "000"' "$tmp/burst.txt" | wc -l)
  BURST_OTHER=$((BURST - BURST_OK - BURST_5XX - BURST_TIMEOUT))
  BURST_MAX=$(awk '{ if ($2 > m) m = $2 } END { printf "%.2f s", m }' "$tmp/burst.txt")
  BURST_MED=$(sort -n -k2 "$tmp/burst.txt" | awk '{ t[NR] = $2 } END { printf "%.2f s", t[int((NR + 1) / 2)] }')
  BURST_RSS=$(rss_mb "$SERVER_PID" VmHWM)
  BURST_WALL=$(awk -v a="$b0" -v b="$b1" 'BEGIN { printf "%.1f s", b - a }')
  : >"$SERVER_DIR/server.log"
  say "  burst: $BURST_OK × 2xx, $BURST_5XX × 5xx, $BURST_TIMEOUT timeouts, $BURST_OTHER other; median $BURST_MED, max $BURST_MAX, all in $BURST_WALL; peak RSS $BURST_RSS MB"
  sleep 2
  RSS_AFTER=$(rss_mb "$SERVER_PID" VmRSS)
  stop_server
  for conns in 16 64 200; do
    row "login/$conns" 10 "${RATIO_TEXT[login/$conns]}"
  done

  # The ceiling once more: a drift from the first figure means something
  # else ran on the machine meanwhile.
  start_ceiling
  TARGET_PID=$CEILING_PID SERVER_DIR=""
  REQ_METHOD=GET REQ_BODY="" REQ_CTYPE="" REQ_TOKEN=""
  measure ceiling_end "bare net/http ceiling, again at the end" 16 "$CEILING_URL"
  stop_ceiling
  local drift
  drift=$(awk -v a="${RPS[ceiling/16]}" -v b="${RPS[ceiling_end/16]}" 'BEGIN { printf "%+.0f%%", (b - a) / a * 100 }')

  {
    echo
    echo "## Throughput$ON_DB"
    echo
    echo "| measurement | conns | req/s | p50 | p99 | errors | peak RSS | ratio | original req/s |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "Logins: the configured hash ($scheme m=$m KiB t=$t p=$p) takes $single ms alone. The \"hash capacity\" is how many"
    echo "hashes/s all $(nproc) cores together compute (bench/hashrate), measured with the server idle just before and just"
    echo "after each login run (the two figures in brackets); a run's ratio is to their mean. With 200 connections wrk counts"
    echo "only the logins answered before it stops (their latencies too); the server then went on hashing the"
    echo "abandoned ones for $DRAIN s."
    echo "Burst: $BURST logins fired at once (curl, 30 s timeout each): $BURST_OK answered 2xx, $BURST_5XX 5xx,"
    echo "$BURST_TIMEOUT timed out, $BURST_OTHER other; median $BURST_MED, slowest $BURST_MAX, all done in $BURST_WALL; peak RSS $BURST_RSS MB."
    echo "Errors are answers of 400 or more plus socket errors and timeouts (wrk timeout 10 s, 30 s for logins);"
    echo "peak RSS is the server's VmHWM during that one measurement (after an unrecorded warm-up per route, $WARMUP,"
    echo "$FIRST_WARMUP for the first one after the start, until garbage collection returns the startup's hash memory);"
    echo "the server's RSS right after start, idle, was $RSS_START MB, and 2 s after the login burst $RSS_AFTER MB."
    echo "A read's ratio is to the mean of the ceiling measured with the same connections just before and just"
    echo "after it (the two figures in brackets; the ceiling server stays up, idle, while ticketapi is measured)."
    echo "The original's figures: the original project (FastAPI, one uvicorn worker) on a similar machine."
    echo "The ceiling measured again at the end: ${RPS[ceiling_end/16]} req/s with 16 connections ($drift from the"
    echo "start; beyond ±15% the machine was busy with something else)."
    rss_note
  } >>"$REPORT"

  # The targets.
  for conns in 16 64; do
    check "GET /me ≥ 0.5 × ceiling (c$conns)" "$(ratio "${RPS[me/$conns]}" "${AROUND[me/$conns]}") ×" \
      "${RPS[me/$conns]} >= 0.5 * ${AROUND[me/$conns]}"
  done
  for conns in 16 64; do
    check "GET /employee/{id} ≥ $EMPLOYEE_TARGET × ceiling (c$conns)" "$(ratio "${RPS[employee/$conns]}" "${AROUND[employee/$conns]}") ×" \
      "${RPS[employee/$conns]} >= $EMPLOYEE_TARGET * ${AROUND[employee/$conns]}"
  done
  for conns in 16 64; do
    check "GET /employee/?limit=100 ≥ 2000/s (c$conns)" "${RPS[list/$conns]}/s" "${RPS[list/$conns]} >= 2000"
  done
  check "POST /ticket/{id} ≥ 5000/s with 64 connections, zero errors" "${RPS[post/64]}/s, ${ERR[post/64]} errors" \
    "${RPS[post/64]} >= 5000 && ${ERR[post/64]} == 0"
  for conns in 16 64 200; do
    check "logins ≥ 0.9 × hash capacity (c$conns)" "$(ratio "${RPS[login/$conns]}" "${AROUND[login/$conns]}") × (${AROUND[login/$conns]}/s)" \
      "${RPS[login/$conns]} >= 0.9 * ${AROUND[login/$conns]}"
  done
  check "200 concurrent logins all answered: no timeouts, no 5xx (wrk c200 for $LOGIN_C200_DURATION)" \
    "${ERR[login/200]} errors" "${ERR[login/200]} == 0"
  check "$BURST logins fired at once all answered 2xx (curl burst)" "$BURST_OK of $BURST, slowest $BURST_MAX" \
    "$BURST_OK == $BURST"
  local login_peak
  login_peak=$(printf '%s\n' "${RSS[login/16]}" "${RSS[login/64]}" "${RSS[login/200]}" "$BURST_RSS" | sort -n | tail -1)
  check "peak RSS under login load < 200 MB" "$login_peak MB" "$login_peak < 200"
  local read_peak
  read_peak=$(for k in me employee list; do for c in 16 64; do echo "${RSS[$k/$c]}"; done; done | sort -n | tail -1)
  check "RSS under read load < 40 MB" "$read_peak MB" "$read_peak < 40"
}

# The throughput part's targets, when it does not run.
throughput_not_run() {
  local why=$1 conns
  for conns in 16 64; do not_run "GET /me ≥ 0.5 × ceiling (c$conns)" "$why"; done
  for conns in 16 64; do not_run "GET /employee/{id} ≥ $EMPLOYEE_TARGET × ceiling (c$conns)" "$why"; done
  for conns in 16 64; do not_run "GET /employee/?limit=100 ≥ 2000/s (c$conns)" "$why"; done
  not_run "POST /ticket/{id} ≥ 5000/s with 64 connections, zero errors" "$why"
  for conns in 16 64 200; do not_run "logins ≥ 0.9 × hash capacity (c$conns)" "$why"; done
  not_run "200 concurrent logins all answered: no timeouts, no 5xx (wrk c200 for $LOGIN_C200_DURATION)" "$why"
  not_run "$BURST logins fired at once all answered 2xx (curl burst)" "$why"
  not_run "peak RSS under login load < 200 MB" "$why"
  not_run "RSS under read load < 40 MB" "$why"
}

# =====================================================================
# Part: the mixed workload, the uncached list, PocketBase side by side
# =====================================================================
PB_EMAIL=admin@example.com
PB_USER=u00000000000001 # the id bench/peers/pocketbase gives that user
PB_LOGIN_JSON='{"identity":"'$PB_EMAIL'","password":"'$ADMIN_PASSWORD'"}'
PB_TICKET_JSON='{"title":"Benchmark ticket","description":"Filed by the load harness","status":"open","employee":"e00000000000101","owner":"'$PB_USER'"}'
PB_PID="" PB_DIR="" PB_BASE=""

# start_pocketbase DIR EMPLOYEES TICKETS TICKETED: PocketBase on a fresh data
# folder in DIR, seeded at its start like seed DIR EMPLOYEES TICKETS TICKETED
# seeds ticketapi (bench/peers/pocketbase: ids e00000000000001.. and
# t00000000000001.., all tickets owned by PB_USER); sets PB_PID, PB_BASE.
start_pocketbase() {
  local dir=$1 addr="" i
  mkdir -p "$dir"
  : >"$dir/out.log"
  BENCH_USER_EMAIL=$PB_EMAIL BENCH_USER_PASSWORD=$ADMIN_PASSWORD \
    BENCH_EMPLOYEES=$2 BENCH_TICKETS=$3 BENCH_TICKETED=$4 \
    "$tmp/pocketbase-peer" serve --http 127.0.0.1:0 --dir "$dir/pb_data" >>"$dir/out.log" 2>&1 &
  PB_PID=$!
  PB_DIR=$dir
  for ((i = 0; i < 600; i++)); do
    addr=$(sed -n 's/^listening \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$dir/out.log")
    [ -n "$addr" ] && break
    kill -0 "$PB_PID" 2>/dev/null || { cat "$dir/out.log" >&2; die "PocketBase did not start"; }
    sleep 0.1
  done
  [ -n "$addr" ] || die "PocketBase did not report its address"
  PB_BASE="http://$addr"
}

stop_pocketbase() {
  [ -n "$PB_PID" ] || return 0
  kill -TERM "$PB_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PB_PID" 2>/dev/null || true
  wait "$PB_PID" 2>/dev/null || true
  PB_PID=""
}

# pb_login: prints a PocketBase auth token of PB_EMAIL.
pb_login() {
  curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' --data "$PB_LOGIN_JSON" \
    "$PB_BASE/api/collections/users/auth-with-password" | jq -er .token
}

# pb_expect_ok PATH TOKEN JQ-CHECK: like expect_ok, on PocketBase.
pb_expect_ok() {
  local body
  body=$(curl -sS --fail-with-body -H "Authorization: Bearer $2" "$PB_BASE$1") || die "PocketBase GET $1 failed: $body"
  jq -e "$3" >/dev/null <<<"$body" || die "PocketBase GET $1: unexpected answer (check $3): ${body:0:300}"
}

# tickets_in DIR: the tickets in the database of the ticketapi instance in
# DIR, or of the PocketBase one (DIR/pb_data).
tickets_in() {
  if [ -d "$1/pb_data" ]; then
    sqlite3 "$1/pb_data/data.db" 'SELECT count(*) FROM tickets'
  elif [ "$DB_KIND" = postgres ]; then
    pg -Atc "SELECT count(*) FROM $(schema_of "$1").tickets"
  else
    sqlite3 "$1/ticketapi.db" 'SELECT count(*) FROM tickets'
  fi
}

# on_ticketapi DIR / on_pocketbase: the next warm-ups and measurements go
# to that server.
on_ticketapi() { TARGET_PID=$SERVER_PID SERVER_DIR=$1 REQ_TOKEN=$TOKEN; }
on_pocketbase() { TARGET_PID=$PB_PID SERVER_DIR="" REQ_TOKEN=$PB_TOKEN; }
on_ceiling() {
  TARGET_PID=$CEILING_PID SERVER_DIR="" REQ_SCRIPT=bench/wrk.lua
  REQ_METHOD=GET REQ_BODY="" REQ_CTYPE="" REQ_TOKEN=""
}

# ceiling_now KEY CONNS: measures the ceiling; prints nothing, sets CEIL.
CEIL=0
ceiling_now() {
  local saved_script=$REQ_SCRIPT saved_pid=$TARGET_PID saved_dir=$SERVER_DIR saved_token=$REQ_TOKEN
  local saved_method=$REQ_METHOD saved_body=$REQ_BODY saved_ctype=$REQ_CTYPE
  on_ceiling
  measure "$1" "bare net/http ceiling" "$2" "$CEILING_URL"
  CEIL=${RPS[$1/$2]}
  REQ_SCRIPT=$saved_script TARGET_PID=$saved_pid SERVER_DIR=$saved_dir REQ_TOKEN=$saved_token
  REQ_METHOD=$saved_method REQ_BODY=$saved_body REQ_CTYPE=$saved_ctype
}

# profile_mixed: an extra, unrecorded mixed run with 16 connections on the
# current ticketapi instance while go tool pprof takes a CPU profile of
# PROFILE_SECONDS; its top 25 by flat and by cumulative time go to PROFILE_TXT.
PROFILE_TXT="" PROFILE_NOTE=""
profile_mixed() {
  local dir=$1 secs=$PROFILE_SECONDS prof=$tmp/mixed.cpu.pprof
  if [ -z "$PPROF" ]; then
    PROFILE_NOTE="no profile: this ticketapi has no -pprof"
    return 0
  fi
  local tickets_then
  tickets_then=$(tickets_in "$dir")
  say "  profiling ticketapi for ${secs} s during an unrecorded mixed run (c16)"
  BENCH_KIND=ticketapi BENCH_TOKEN=$TOKEN wrk -t"$THREADS" -c16 -d"$((secs + 3))s" -s bench/mixed.lua "${BASE%/api/v1}" >"$tmp/profile-wrk.txt" &
  local wrk_pid=$!
  sleep 1
  if ! PPROF_TMPDIR=$tmp go tool pprof -proto -seconds "$secs" "http://$PPROF/debug/pprof/profile" >"$prof" 2>"$tmp/pprof.err"; then
    wait "$wrk_pid" || true
    PROFILE_NOTE="no profile: go tool pprof failed: $(head -c 300 "$tmp/pprof.err")"
    return 0
  fi
  wait "$wrk_pid" || true
  : >"$dir/server.log"
  wait_idle "$SERVER_PID"
  local rps
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$tmp/profile-wrk.txt")
  PROFILE_TXT=$(
    echo "Top 25 by flat time (the function itself):"
    echo
    echo '```'
    go tool pprof -top -nodecount=25 "$prof" 2>/dev/null | sed -n '/flat%/,$p'
    echo '```'
    echo
    echo "Top 25 by cumulative time (the function and what it calls):"
    echo
    echo '```'
    go tool pprof -top -cum -nodecount=25 "$prof" 2>/dev/null | sed -n '/flat%/,$p'
    echo '```'
  )
  local header
  header=$(go tool pprof -top -nodecount=1 "$prof" 2>/dev/null | grep -E '^Duration' | head -1)
  PROFILE_NOTE="ticketapi's CPU profile (\`go tool pprof -seconds $secs\` on \`serve -pprof\`) during an extra, unrecorded"
  PROFILE_NOTE+=" mixed run with 16 connections ($rps req/s with the profiler on), on the instance the measured run with"
  PROFILE_NOTE+=" 16 connections left ($tickets_then tickets, some $((tickets_then / 101)) an employee). $header."
}

# mixed_growth_text: the tickets an employee has at the end of each mixed run.
mixed_growth_text() {
  local id out=() n
  for id in t_mixed/16 p_mixed/16 t_mixed/64 p_mixed/64; do
    [ -n "${GROWTH[$id]:-}" ] || continue
    n=${GROWTH[$id]##* }
    out+=("$([ "${id%%_*}" = t ] && echo ticketapi || echo PocketBase) c${id##*/}: $((n / 101))")
  done
  local IFS=,
  echo "tickets per employee at the end: ${out[*]}" | sed 's/,/, /g'
}

# side_row KEY LABEL CONNS: a side-by-side row of t_KEY and p_KEY.
SIDE_ROWS=()
side_row() {
  local t="t_$1/$3" p="p_$1/$3"
  SIDE_ROWS+=("| $2 | $3 | ${RPS[$t]} | $(fmt_lat "${P50[$t]}") | $(fmt_lat "${P99[$t]}") | ${ERRTXT[$t]} | ${RPS[$p]} | $(fmt_lat "${P50[$p]}") | $(fmt_lat "${P99[$p]}") | ${ERRTXT[$p]} | **$(ratio "${RPS[$t]}" "${RPS[$p]}")** |")
}

# mixed_name SCENARIO [short]: how the report names a mixed scenario.
mixed_name() {
  case $1/${2:-} in
    mixed/short) echo "mixed workload" ;;
    mlists/short) echo "mixed with lists" ;;
    mixed/) echo "mixed workload ($((100 - MIXED_WRITES))% one employee, $MIXED_WRITES% ticket create)" ;;
    mlists/) echo "mixed with lists ($((100 - MIXED_WRITES - MIXED_LISTS))% one employee, $MIXED_LISTS% its open tickets newest first, $MIXED_WRITES% ticket create)" ;;
  esac
}

part_mixed() {
  local conns spec key label tpath ppath method first tdir pdir before after url d
  say "== mixed workload, uncached list$( ((RUN_PEER)) && echo ', PocketBase side by side') (each run $DURATION, mixed $MIXED_DURATION)"
  start_ceiling
  on_ceiling
  warmup "$CEILING_URL"
  local ticket_form=$TICKET_JSON
  MIXED_ROWS=()

  # -- Side by side: the single operations, on one instance of each server.
  if ((RUN_PEER)); then
    tdir=$tmp/side pdir=$tmp/pb_side
    new_instance "$tdir"
    start_server "$tdir"
    TOKEN=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
    seed "$tdir" 101 500 100 1000000000 1
    start_pocketbase "$pdir" 101 500 100
    PB_TOKEN=$(pb_login) || die "PocketBase login failed"
    PB_COST=$(sqlite3 "$pdir/pb_data/data.db" "SELECT substr(password, 5, 2) + 0 FROM users WHERE id = '$PB_USER'")
    expect_ok /me "$TOKEN" '.username == "admin"'
    expect_ok /employee/50 "$TOKEN" '.tickets | length == 5'
    expect_ok '/employee/?limit=100' "$TOKEN" 'length == 100 and all(.[]; (.tickets | length) == 5)'
    pb_expect_ok "/api/collections/users/records/$PB_USER" "$PB_TOKEN" ".id == \"$PB_USER\""
    pb_expect_ok "/api/collections/employees/records/e00000000000050?expand=tickets_via_employee" "$PB_TOKEN" \
      '.expand.tickets_via_employee | length == 5'
    pb_expect_ok "/api/collections/employees/records?perPage=100&skipTotal=1&expand=tickets_via_employee" "$PB_TOKEN" \
      '(.items | length) == 100 and all(.items[]; (.expand.tickets_via_employee | length) == 5)'
    curl -sS --fail-with-body -X POST -H "Authorization: Bearer $PB_TOKEN" -H 'Content-Type: application/json' \
      --data "$PB_TICKET_JSON" "$PB_BASE/api/collections/tickets/records" | jq -e '.employee == "e00000000000101"' >/dev/null ||
      die "PocketBase: ticket create failed"
    curl -sS --fail-with-body -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data "$TICKET_JSON" "$BASE/ticket/101" | jq -e '.employee_id == 101' >/dev/null || die "POST /ticket/101 failed"

    first=1
    for spec in "me|own user: GET /me · GET users/records/{id}|/me|/api/collections/users/records/$PB_USER|GET" \
      "employee|one employee with its 5 tickets|/employee/50|/api/collections/employees/records/e00000000000050?expand=tickets_via_employee|GET" \
      "list|100 employees with 5 tickets each (no writes: ticketapi's answer cache helps)|/employee/?limit=100|/api/collections/employees/records?perPage=100&skipTotal=1&expand=tickets_via_employee|GET" \
      "post|ticket create (JSON)|/ticket/101|/api/collections/tickets/records|POST"; do
      IFS='|' read -r key label tpath ppath method <<<"$spec"
      REQ_SCRIPT=bench/wrk.lua REQ_METHOD=$method REQ_BODY="" REQ_CTYPE=""
      for conns in 16 64; do
        on_ticketapi "$tdir"
        [ "$method" = GET ] || REQ_BODY=$ticket_form REQ_CTYPE=application/json
        if ((first)); then warmup "$tpath" "$FIRST_WARMUP"; else warmup "$tpath"; fi
        measure "t_$key" "ticketapi: $label" "$conns" "$tpath"
        on_pocketbase
        [ "$method" = GET ] || REQ_BODY=$PB_TICKET_JSON REQ_CTYPE=application/json
        if ((first)); then warmup "$PB_BASE$ppath" "$FIRST_WARMUP"; else warmup "$PB_BASE$ppath"; fi
        first=0
        measure "p_$key" "PocketBase: $label" "$conns" "$PB_BASE$ppath"
        side_row "$key" "$label" "$conns"
      done
    done

    # Logins, and what each one's hash allows (bench/hashrate, both cores,
    # the servers idle).
    local scheme m t p
    scheme=$(jq -r '.auth.PWD_CONTEXT.schemes[0]' "$tdir/config.json")
    m=$(jq -r .auth.ARGON2.memory_kib "$tdir/config.json")
    t=$(jq -r .auth.ARGON2.iterations "$tdir/config.json")
    p=$(jq -r .auth.ARGON2.parallelism "$tdir/config.json")
    T_HASH=$("$tmp/hashrate" -scheme "$scheme" -m "$m" -t "$t" -p "$p" \
      -cost "$(jq -r .auth.BCRYPT_COST "$tdir/config.json")" -d "$HASHRATE_DURATION")
    P_HASH=$("$tmp/hashrate" -scheme bcrypt -cost "$PB_COST" -d "$HASHRATE_DURATION")
    say "  hash capacity: ticketapi $T_HASH; PocketBase $P_HASH"
    if [ "$scheme" = argon2 ]; then
      T_HASH_TEXT="argon2id m=$((m / 1024)) MiB t=$t p=$p"
    else
      T_HASH_TEXT="bcrypt cost $(jq -r .auth.BCRYPT_COST "$tdir/config.json")"
    fi
    label="login (correct password)"
    for conns in 16 64; do
      on_ticketapi "$tdir"
      REQ_METHOD=POST REQ_BODY=$LOGIN_FORM REQ_CTYPE=application/x-www-form-urlencoded REQ_TOKEN=""
      warmup /token
      measure t_login "ticketapi: $label" "$conns" /token "$LOGIN_DURATION" 30s
      on_pocketbase
      REQ_METHOD=POST REQ_BODY=$PB_LOGIN_JSON REQ_CTYPE=application/json REQ_TOKEN=""
      warmup "$PB_BASE/api/collections/users/auth-with-password"
      measure p_login "PocketBase: $label" "$conns" "$PB_BASE/api/collections/users/auth-with-password" "$LOGIN_DURATION" 30s
      side_row login "$label" "$conns"
    done
    stop_server
    stop_pocketbase
  fi

  # -- The mixed workload: for each number of connections, fresh instances
  # (the same seed as above), so that each run starts from the same data;
  # each run is set against the ceiling measured just before and after it.
  # Then the same with lists: MIXED_LISTS% of the requests, out of the
  # reads, ask for an employee's open tickets, newest first.
  export BENCH_EMPLOYEES=101 BENCH_WRITES=$MIXED_WRITES BENCH_OWNER=$PB_USER
  declare -gA GROWTH
  local start_t end_t n=0 kind scenario
  # Per number of connections: ceiling, ticketapi, ceiling, PocketBase, ceiling.
  REQ_SCRIPT=bench/mixed.lua REQ_METHOD=GET REQ_BODY="" REQ_CTYPE=""
  for scenario in mixed mlists; do
  export BENCH_LISTS=0
  [ "$scenario" = mixed ] || BENCH_LISTS=$MIXED_LISTS
  for conns in 16 64; do
    tdir=$tmp/$scenario$conns pdir=$tmp/pb_$scenario$conns
    SERVER_ARGS=()
    if ((PROFILE && conns == 16)) && [ "$scenario" = mixed ]; then
      "$tmp/ticketapi" serve -h >"$tmp/serve-help.txt" 2>&1 || true
      grep -q -- -pprof "$tmp/serve-help.txt" && SERVER_ARGS=(-pprof 127.0.0.1:0)
    fi
    new_instance "$tdir"
    start_server "$tdir"
    TOKEN=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
    seed "$tdir" 101 500 100 1000000000 1
    if ((RUN_PEER)); then
      start_pocketbase "$pdir" 101 500 100
      PB_TOKEN=$(pb_login) || die "PocketBase login failed"
    fi
    ceiling_now "mixed_ceiling_$n" "$conns"
    before=$CEIL
    for kind in t p; do
      [ "$kind" = t ] || ((RUN_PEER)) || continue
      if [ "$kind" = t ]; then
        on_ticketapi "$tdir"
        export BENCH_KIND=ticketapi
        url=${BASE%/api/v1}
        label="ticketapi: $(mixed_name "$scenario" short)"
        d=$tdir
      else
        on_pocketbase
        export BENCH_KIND=pocketbase
        url=$PB_BASE
        label="PocketBase: $(mixed_name "$scenario" short)"
        d=$pdir
      fi
      # The first route after a start: a longer warm-up, reads only, so
      # that both servers' runs start from the same data.
      BENCH_WRITES=0 warmup "$url" "$FIRST_WARMUP"
      start_t=$(tickets_in "$d")
      measure "${kind}_$scenario" "$label" "$conns" "$url" "$MIXED_DURATION"
      end_t=$(tickets_in "$d")
      GROWTH[${kind}_$scenario/$conns]="$start_t → $end_t"
      n=$((n + 1))
      ceiling_now "mixed_ceiling_$n" "$conns"
      after=$CEIL
      around "${kind}_$scenario/$conns" "$before" "$after" ceiling
      before=$after
    done
    ((PROFILE && conns == 16)) && [ "$scenario" = mixed ] && profile_mixed "$tdir"
    stop_server
    stop_pocketbase
    SERVER_ARGS=()
  done
  for conns in 16 64; do
    MIXED_ROWS+=("$(row_text "t_$scenario/$conns" "${RATIO_TEXT[t_$scenario/$conns]}") ${GROWTH[t_$scenario/$conns]} |")
    ((RUN_PEER)) && MIXED_ROWS+=("$(row_text "p_$scenario/$conns" "${RATIO_TEXT[p_$scenario/$conns]}") ${GROWTH[p_$scenario/$conns]} |")
    ((RUN_PEER)) && side_row "$scenario" "$(mixed_name "$scenario")" "$conns"
  done
  done
  export BENCH_LISTS=0

  # -- The uncached list: LIST_EMPLOYEES employees with 5 tickets each (and
  # one more without, the target of the writes that empty the answer cache
  # before each run); every request a page not asked for before in the run.
  local e=$LIST_EMPLOYEES
  tdir=$tmp/pages
  new_instance "$tdir"
  start_server "$tdir"
  TOKEN=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
  say "  uncached list: seeding $((e + 1)) employees, $((5 * e)) tickets"
  seed "$tdir" $((e + 1)) $((5 * e)) "$e" 1000000000 1
  local probe_after
  for probe_after in 0 $((e / 2)) $((e - 100)); do
    expect_ok "/employee/?after_id=$probe_after&limit=100" "$TOKEN" \
      "length == 100 and .[0].id == $((probe_after + 1)) and all(.[]; (.tickets | length) == 5)"
  done
  export BENCH_EMPLOYEES=$e BENCH_STRIDE=$THREADS
  empty_cache() {
    curl -sS --fail-with-body -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      --data "$TICKET_JSON" "$BASE/ticket/$((e + 1))" >/dev/null || die "POST /ticket/$((e + 1)) failed"
  }
  label="GET /api/v1/employee/?after_id=N&limit=100 (100 × 5 tickets, uncached)"
  for conns in 16 64; do
    ceiling_now "pages_ceiling_before" "$conns"
    before=$CEIL
    on_ticketapi "$tdir"
    REQ_SCRIPT=bench/pages.lua REQ_METHOD=GET REQ_BODY="" REQ_CTYPE=""
    export BENCH_START=$((RANDOM * 32768 + RANDOM))
    empty_cache
    warmup /employee/ "$FIRST_WARMUP"
    export BENCH_START=$((RANDOM * 32768 + RANDOM))
    empty_cache
    measure pages "$label" "$conns" /employee/
    ceiling_now "pages_ceiling_after" "$conns"
    after=$CEIL
    around "pages/$conns" "$before" "$after" ceiling
  done
  PAGES_REQUESTS_16=$(awk -v r="${RPS[pages/16]}" -v d="${DURATION%s}" 'BEGIN { printf "%.0f", r * d }')
  stop_server
  stop_ceiling
  unset BENCH_KIND BENCH_EMPLOYEES BENCH_WRITES BENCH_OWNER BENCH_STRIDE BENCH_START
  REQ_SCRIPT=bench/wrk.lua
  for conns in 16 64; do
    MIXED_ROWS+=("$(row_text "pages/$conns" "${RATIO_TEXT[pages/$conns]}") |")
    if ((RUN_PEER)); then
      local t="pages/$conns" p="p_list/$conns"
      SIDE_ROWS+=("| 100 employees with 5 tickets each: ticketapi uncached (bench/pages.lua, $e employees), PocketBase as above | $conns | ${RPS[$t]} | $(fmt_lat "${P50[$t]}") | $(fmt_lat "${P99[$t]}") | ${ERRTXT[$t]} | ${RPS[$p]} | $(fmt_lat "${P50[$p]}") | $(fmt_lat "${P99[$p]}") | ${ERRTXT[$p]} | **$(ratio "${RPS[$t]}" "${RPS[$p]}")** |")
    fi
  done

  # -- The report.
  {
    echo
    echo "## Mixed workload and uncached list$ON_DB"
    echo
    echo "| measurement | conns | req/s | p50 | p99 | errors | peak RSS | ratio | tickets before → after |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${MIXED_ROWS[@]}"
    echo
    echo "Mixed workload (bench/mixed.lua): every request picks one of the 101 employees at random; $((100 - MIXED_WRITES))% read it with"
    echo "its tickets (ticketapi \`GET /api/v1/employee/{id}\`, PocketBase \`GET /api/collections/employees/records/{id}?expand=tickets_via_employee\`),"
    echo "$MIXED_WRITES% add a ticket to it (\`POST /api/v1/ticket/{id}\`, \`POST /api/collections/tickets/records\`), so the data grows"
    echo "during the run (the last column: the tickets in the database before and after the run; a faster server writes"
    echo "more, so its reads return more tickets: $(mixed_growth_text)). Each run"
    echo "starts on fresh instances seeded alike (101 employees, 500 tickets over employees 1..100), lasts $MIXED_DURATION"
    echo "after an unrecorded $FIRST_WARMUP warm-up (reads only), and is set against the ceiling measured just before and"
    echo "just after it (the two figures in brackets)."
    echo "Mixed with lists: the same, but $MIXED_LISTS% of the requests, taken from the reads, ask for that employee's open"
    echo "tickets, newest first, 20 of them and the count of all (ticketapi"
    echo "\`GET /api/v1/ticket/?employee_id={id}&status=open&sort=-created&limit=20\`, PocketBase"
    echo "\`GET /api/collections/tickets/records?filter=(employee='{id}' && status='open')&sort=-created&perPage=20\`)."
    echo "Uncached list (bench/pages.lua): $e employees with 5 tickets each; every request asks for a page of"
    echo "100 (\`after_id\`) that no earlier request of the run asked for (the $((e - 99)) pages in a scattered order, so"
    echo "no answer cache can help while a run asks for fewer; at 16 connections one run asked for about $PAGES_REQUESTS_16),"
    echo "and a ticket is written just before each run, which empties ticketapi's answer cache. Only list requests are sent."
    rss_note
  } >>"$REPORT"
  if ((RUN_PEER)); then
    local t_single p_single t_rate p_rate
    t_single=$(sed -n 's/.*single_ms=\([0-9.]*\).*/\1/p' <<<"$T_HASH") t_rate=$(sed -n 's/.*hashes_per_sec=\([0-9.]*\).*/\1/p' <<<"$T_HASH")
    p_single=$(sed -n 's/.*single_ms=\([0-9.]*\).*/\1/p' <<<"$P_HASH") p_rate=$(sed -n 's/.*hashes_per_sec=\([0-9.]*\).*/\1/p' <<<"$P_HASH")
    {
      echo
      echo "## ticketapi and PocketBase side by side$ON_DB"
      echo
      echo "| operation | conns | ticketapi req/s | p50 | p99 | errors | PocketBase req/s | p50 | p99 | errors | ticketapi ÷ PocketBase |"
      echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
      printf '%s\n' "${SIDE_ROWS[@]}"
      echo
      echo "PocketBase $PB_VERSION (bench/peers/pocketbase, built with $PB_GO) on its own SQLite, with the same data: 101"
      echo "employees, 500 tickets (5 each for employees 1..100), a relation ticket → employee with an index, an"
      echo "auth collection of users, and \`@request.auth.id != \"\"\` as the list, view and create rule of all three;"
      echo "its defaults otherwise (request logs written to its auxiliary database, no rate limits; login alerts off)."
      echo "The same operations, connections and durations, one server right after the other:"
      echo "own user: ticketapi \`GET /api/v1/me\`, PocketBase \`GET /api/collections/users/records/{id}\`;"
      echo "one employee: \`GET /api/v1/employee/50\`, \`GET /api/collections/employees/records/{id}?expand=tickets_via_employee\`;"
      echo "100 employees: \`GET /api/v1/employee/?limit=100\`, \`GET /api/collections/employees/records?perPage=100&skipTotal=1&expand=tickets_via_employee\`"
      echo "(no writes during it: ticketapi answers from its answer cache, PocketBase has none);"
      echo "ticket create: \`POST /api/v1/ticket/101\`, \`POST /api/collections/tickets/records\` (JSON);"
      echo "login: \`POST /api/v1/token\` (form), \`POST /api/collections/users/auth-with-password\` (JSON);"
      echo "mixed workload, mixed with lists: as above (each on fresh instances)."
      echo "Password hashes: ticketapi $T_HASH_TEXT, $t_single ms a hash alone, $t_rate hashes/s on all cores;"
      echo "PocketBase bcrypt cost $PB_COST (its default), $p_single ms a hash alone, $p_rate hashes/s on all cores"
      echo "(bench/hashrate, servers idle): the login ratio is mostly the ratio of the two hashes' costs."
    } >>"$REPORT"
  fi
  if ((PROFILE)); then
    {
      echo
      echo "## Where ticketapi's CPU goes in the mixed workload"
      echo
      echo "$PROFILE_NOTE"
      if [ -n "$PROFILE_TXT" ]; then
        echo
        echo "$PROFILE_TXT"
      fi
    } >>"$REPORT"
  fi

  # The targets.
  for conns in 16 64; do
    check "mixed workload ≥ 0.25 × ceiling, zero errors (c$conns)" \
      "$(ratio "${RPS[t_mixed/$conns]}" "${AROUND[t_mixed/$conns]}") ×, ${ERR[t_mixed/$conns]} errors" \
      "${RPS[t_mixed/$conns]} >= 0.25 * ${AROUND[t_mixed/$conns]} && ${ERR[t_mixed/$conns]} == 0"
  done
  for conns in 16 64; do
    if ((RUN_PEER)); then
      check "mixed workload ≥ $MIXED_PEER_TARGET × PocketBase, zero errors (c$conns)" \
        "$(ratio "${RPS[t_mixed/$conns]}" "${RPS[p_mixed/$conns]}") × (${RPS[t_mixed/$conns]}/s and ${RPS[p_mixed/$conns]}/s), ${ERR[t_mixed/$conns]} errors" \
        "${RPS[t_mixed/$conns]} >= $MIXED_PEER_TARGET * ${RPS[p_mixed/$conns]} && ${ERR[t_mixed/$conns]} == 0"
    else
      not_run "mixed workload ≥ $MIXED_PEER_TARGET × PocketBase, zero errors (c$conns)" "PEER=0"
    fi
  done
  for conns in 16 64; do
    check "uncached list of 100 employees with 5 tickets each ≥ 1000/s (c$conns)" \
      "${RPS[pages/$conns]}/s, ${ERR[pages/$conns]} errors" "${RPS[pages/$conns]} >= 1000 && ${ERR[pages/$conns]} == 0"
  done
}

# The mixed part's targets, when it does not run.
mixed_not_run() {
  local why=$1 conns
  for conns in 16 64; do not_run "mixed workload ≥ 0.25 × ceiling, zero errors (c$conns)" "$why"; done
  for conns in 16 64; do not_run "mixed workload ≥ $MIXED_PEER_TARGET × PocketBase, zero errors (c$conns)" "$why"; done
  for conns in 16 64; do not_run "uncached list of 100 employees with 5 tickets each ≥ 1000/s (c$conns)" "$why"; done
}

# =====================================================================
# Part: flat cost as data grows
# =====================================================================
# scale_set NAME EMPLOYEES TICKETS: a database with TICKETS tickets over
# EMPLOYEES employees (each employee gets TICKETS/EMPLOYEES of them, spread
# over the table); the bench user owns 100 tickets, spread likewise, and 10
# tickets hold the rare word "quokka" in both sets. Measures one employee,
# the bench user's tickets, a page near the end and the filtered lists (the
# bench user is a manager, who may list users).
scale_set() {
  local name=$1 employees=$2 tickets=$3 dir=$tmp/$1 t0 t1 admin_token user_id conns
  new_instance "$dir"
  start_server "$dir"
  TARGET_PID=$SERVER_PID
  admin_token=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
  user_id=$(curl -sS --fail-with-body -X POST -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
    --data '{"username":"'$BENCH_USER'","first_name":"Bench","last_name":"User","phone":"+15550000001",
             "email":"benchuser@example.com","role":["manager"],"password":"'"$ADMIN_PASSWORD"'"}' \
    "$BASE/user/" | jq -er .id) || die "could not create $BENCH_USER"
  stop_server
  say "  $name: seeding $tickets tickets over $employees employees"
  t0=$(date +%s.%N)
  seed "$dir" "$employees" "$tickets" "$employees" $((tickets / 100)) "$user_id" $((tickets / 10))
  t1=$(date +%s.%N)
  SEED_TIME[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')
  DB_SIZE[$name]=$(db_size_mb "$dir")
  start_server "$dir"
  TARGET_PID=$SERVER_PID
  REQ_TOKEN=$(login "$BENCH_USER" "$ADMIN_PASSWORD") || die "$BENCH_USER login failed"
  REQ_METHOD=GET REQ_BODY="" REQ_CTYPE=""
  local per=$((tickets / employees)) emp=$((employees / 2)) skip=$((tickets - 100))
  expect_ok "/employee/$emp" "$REQ_TOKEN" ".tickets | length == $per"
  expect_ok /ticket/my/ "$REQ_TOKEN" "length == 100 and all(.[]; .owner_id == $user_id)"
  expect_ok "/ticket/?skip=$skip&limit=100" "$REQ_TOKEN" "length == 100 and .[99].id == $tickets"
  local paths=("employee|GET /employee/{id} ($per tickets)|/employee/$emp"
    "my|GET /ticket/my/ (100 of the caller's)|/ticket/my/"
    "skip|GET /ticket/?skip=N-100&limit=100|/ticket/?skip=$skip&limit=100")
  if grep -q '"after_id"' "$src/openapi.json"; then
    expect_ok "/ticket/?after_id=$skip&limit=100" "$REQ_TOKEN" "length == 100 and .[99].id == $tickets"
    paths+=("after|GET /ticket/?after_id=N-100&limit=100|/ticket/?after_id=$skip&limit=100")
  fi
  # Filtered and sorted lists (docs/api.md §5): those an index keeps flat,
  # q alone among them (a word in 10 tickets, an email in one employee:
  # the text indexes of search.go) and sorts of every ticket (the sort
  # indexes of listindexes.go), and, without a target, two that cannot
  # be: the count of a broad filter visits every matching row, and a q
  # whose 3-character pieces are mostly in every ticket reads many.
  if grep -q '"total_count"' "$src/openapi.json"; then
    local q_one="number%20$((tickets - 1))" q_employee="bench$emp%40"
    expect_ok "/ticket/?status=open&employee_id=$emp&sort=-created" "$REQ_TOKEN" "length == $per and all(.[]; .employee_id == $emp)"
    expect_ok "/ticket/?sort=-created&limit=100&total_count=false" "$REQ_TOKEN" "length == 100"
    expect_ok "/ticket/?q=number&employee_id=$emp&sort=-created" "$REQ_TOKEN" "length == $per"
    expect_ok "/ticket/?q=quokka" "$REQ_TOKEN" "length == 10 and all(.[]; .description | test(\"quokka\"))"
    expect_ok "/employee/?q=$q_employee" "$REQ_TOKEN" "length == 1 and .[0].id == $emp and (.[0].tickets | length) == $per"
    expect_ok "/ticket/?q=$q_one&total_count=false" "$REQ_TOKEN" "length == 1"
    expect_ok "/user/?role=manager&sort=username" "$REQ_TOKEN" "length == 1"
    expect_ok "/ticket/?employee_id=$emp&sort=title" "$REQ_TOKEN" "length == $per and all(.[]; .employee_id == $emp)"
    expect_ok "/ticket/?sort=title&limit=100&total_count=false" "$REQ_TOKEN" "length == 100"
    expect_ok "/ticket/?sort=-status&limit=100&total_count=false" "$REQ_TOKEN" "length == 100"
    paths+=("filtered|GET /ticket/?status=open&employee_id=N&sort=-created (counted)|/ticket/?status=open&employee_id=$emp&sort=-created"
      "newest|GET /ticket/?sort=-created&limit=100&total_count=false|/ticket/?sort=-created&limit=100&total_count=false"
      "qemployee|GET /ticket/?q=number&employee_id=N&sort=-created (counted)|/ticket/?q=number&employee_id=$emp&sort=-created"
      "qrare|GET /ticket/?q=quokka (q alone, a word in 10 tickets; counted)|/ticket/?q=quokka"
      "qstaff|GET /employee/?q=benchN@ (q alone, one employee's email; counted)|/employee/?q=$q_employee"
      "users|GET /user/?role=manager&sort=username (counted)|/user/?role=manager&sort=username"
      "titled|GET /ticket/?employee_id=N&sort=title (sorts the employee's; counted)|/ticket/?employee_id=$emp&sort=title"
      "alltitled|GET /ticket/?sort=title&limit=100&total_count=false|/ticket/?sort=title&limit=100&total_count=false"
      "bystatus|GET /ticket/?sort=-status&limit=100&total_count=false|/ticket/?sort=-status&limit=100&total_count=false"
      "counted|GET /ticket/?sort=-created&limit=100 (counts every ticket; no target)|/ticket/?sort=-created&limit=100"
      "qalone|GET /ticket/?q=number N-1&total_count=false (one ticket, but most pieces of q are in every ticket; no target)|/ticket/?q=$q_one&total_count=false")
  fi
  local spec key label path
  for spec in "${paths[@]}"; do
    IFS='|' read -r key label path <<<"$spec"
    SCALE_KEYS[$key]=$label
    if [ "$key" = employee ]; then warmup "$path" "$FIRST_WARMUP"; else warmup "$path"; fi
    for conns in 16 64; do
      measure "$name-$key" "$label" "$conns" "$path"
    done
  done
  stop_server
}

part_scale() {
  say "== flat cost as data grows"
  declare -gA SEED_TIME DB_SIZE SCALE_KEYS
  local small=$SMALL_TICKETS big=$SCALE_TICKETS
  local small_emp=$((SCALE_EMPLOYEES * SMALL_TICKETS / SCALE_TICKETS))
  ((small_emp >= 1)) || small_emp=1
  scale_set small "$small_emp" "$small"
  scale_set big "$SCALE_EMPLOYEES" "$big"
  {
    echo
    echo "## Flat cost as data grows$ON_DB"
    echo
    echo "Small: $small tickets over $small_emp employees (${DB_SIZE[small]} MB, seeded in ${SEED_TIME[small]});"
    echo "large: $big tickets over $SCALE_EMPLOYEES employees (${DB_SIZE[big]} MB, seeded in ${SEED_TIME[big]})."
    echo "Each employee has the same number of tickets in both, spread over the table; the caller owns 100."
    echo
    echo "| measurement | conns | small req/s | small p50 | large req/s | large p50 | large p99 | errors | large peak RSS | slowdown |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  } >>"$REPORT"
  local key conns s b slow
  for key in employee my skip after filtered newest qemployee qrare qstaff users titled alltitled bystatus counted qalone; do
    [ -n "${SCALE_KEYS[$key]:-}" ] || continue
    for conns in 16 64; do
      s="small-$key/$conns" b="big-$key/$conns"
      slow=$(ratio "${RPS[$s]}" "${RPS[$b]}")
      echo "| ${SCALE_KEYS[$key]} | $conns | ${RPS[$s]} | $(fmt_lat "${P50[$s]}") | ${RPS[$b]} | $(fmt_lat "${P50[$b]}") | $(fmt_lat "${P99[$b]}") | $((ERR[$s] + ERR[$b])) | ${RSS[$b]} MB | ${slow}× |" >>"$REPORT"
      # No target: skip reads every row it skips (O(N) in any B-tree
      # database; lists take after_id for that), a count reads every row
      # it counts, and a q found in most rows reads them all.
      case $key in skip | counted | qalone) continue ;; esac
      check "${SCALE_KEYS[$key]} at $big tickets ≤ 1.5 × slower than at $small (c$conns)" "${slow}× slower" \
        "${RPS[$b]} * 1.5 >= ${RPS[$s]}"
    done
  done
  {
    echo
    echo "Slowdown: small req/s ÷ large req/s (target ≤ 1.5; none for deep skip, counted broad lists and a common q, which read every row they pass)."
    rss_note
  } >>"$REPORT"
}

# =====================================================================
# Part: what the audit trail costs
# =====================================================================
# Both builds run side by side, each on a fresh instance seeded as in the
# other parts: the normal build (on) and one built with -tags noaudit (off).
# They take turns in short slices, so that whatever else the machine does
# weighs on both alike.
declare -A AUDIT_PID AUDIT_BASE AUDIT_DIR AUDIT_TOKEN
AUDIT_PIDS="" # every instance the part started, for cleanup

# audit_start BUILD DIR: a fresh, seeded instance of BUILD in DIR.
audit_start() {
  local build=$1 dir=$2
  SERVER_BIN=$tmp/ticketapi
  [ "$build" = on ] || SERVER_BIN=$tmp/ticketapi-noaudit
  new_instance "$dir"
  start_server "$dir"
  AUDIT_TOKEN[$build]=$(login admin "$ADMIN_PASSWORD") || die "admin login failed"
  seed "$dir" 101 500 100 1000000000 1
  AUDIT_PID[$build]=$SERVER_PID AUDIT_BASE[$build]=$BASE AUDIT_DIR[$build]=$dir
  AUDIT_PIDS+=" $SERVER_PID"
  SERVER_PID="" SERVER_BIN=$tmp/ticketapi
}

# audit_use BUILD: the next warm-ups and measurements go to BUILD's instance.
audit_use() {
  TARGET_PID=${AUDIT_PID[$1]} SERVER_DIR=${AUDIT_DIR[$1]} REQ_TOKEN=${AUDIT_TOKEN[$1]} BASE=${AUDIT_BASE[$1]}
}

# audit_pair SCENARIO CONNS: both builds, AUDIT_ROUNDS slices each, taking
# turns. SCENARIO post: POST /ticket/101 (bench/wrk.lua); mixed: the mixed
# workload (bench/mixed.lua).
audit_pair() {
  local scenario=$1 conns=$2 build slice url id
  for build in on off; do
    audit_start "$build" "$tmp/audit_${build}_${scenario}_$conns"
    audit_use "$build"
    if [ "$scenario" = post ]; then
      REQ_SCRIPT=bench/wrk.lua REQ_METHOD=POST REQ_BODY=$TICKET_JSON REQ_CTYPE=application/json
      warmup /ticket/101
    else
      REQ_SCRIPT=bench/mixed.lua REQ_METHOD=GET REQ_BODY="" REQ_CTYPE=""
      BENCH_WRITES=0 warmup "${BASE%/api/v1}"
    fi
  done
  for ((slice = 1; slice <= AUDIT_ROUNDS; slice++)); do
    for build in $( ((slice % 2)) && echo on off || echo off on); do
      audit_use "$build"
      url=/ticket/101
      [ "$scenario" = post ] || url=${BASE%/api/v1}
      measure "audit_$build" "audit trail $build: $scenario, slice $slice" "$conns" "$url" "$AUDIT_SLICE"
      id="audit_$build/$conns"
      AUDIT_RPS[$build/$scenario/$conns]+=" ${RPS[$id]}"
      AUDIT_ERR[$build/$scenario/$conns]=$((${AUDIT_ERR[$build/$scenario/$conns]:-0} + ${ERR[$id]}))
    done
  done
  for build in on off; do
    SERVER_PID=${AUDIT_PID[$build]}
    stop_server
    [ "$DB_KIND" = postgres ] || rm -rf "${AUDIT_DIR[$build]}"
  done
}

# median N...: the middle value (the mean of the middle two for an even count).
median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

part_audit() {
  say "== audit trail cost ($AUDIT_ROUNDS slices of $AUDIT_SLICE for each build)"
  declare -gA AUDIT_RPS AUDIT_ERR
  export BENCH_KIND=ticketapi BENCH_EMPLOYEES=101 BENCH_WRITES=$MIXED_WRITES
  local spec scenario conns label on off ratios ratio cost rows=()
  local specs=("post|64|POST /ticket/{id}" "mixed|16|mixed workload" "mixed|64|mixed workload")
  for spec in "${specs[@]}"; do
    IFS='|' read -r scenario conns label <<<"$spec"
    audit_pair "$scenario" "$conns"
  done
  unset BENCH_KIND BENCH_EMPLOYEES BENCH_WRITES
  REQ_SCRIPT=bench/wrk.lua
  for spec in "${specs[@]}"; do
    IFS='|' read -r scenario conns label <<<"$spec"
    on=${AUDIT_RPS[on/$scenario/$conns]} off=${AUDIT_RPS[off/$scenario/$conns]}
    # Each slice's ratio: its two runs came one right after the other.
    ratios=$(awk -v on="$on" -v off="$off" 'BEGIN { n = split(on, a); split(off, b)
      for (i = 1; i <= n; i++) printf "%.2f ", a[i] / b[i] }')
    # shellcheck disable=SC2086 # one word a slice
    ratio=$(printf "%.2f" "$(median $ratios)")
    cost=$(awk -v r="$ratio" 'BEGIN { printf "%.0f", (1 - r) * 100 }')
    rows+=("| $label | $conns | $(sed 's/^ //; s/ /, /g' <<<"$on") | $(sed 's/^ //; s/ /, /g' <<<"$off") | $(sed 's/ $//; s/ /, /g' <<<"$ratios") | **$ratio** | $cost % | ${AUDIT_ERR[on/$scenario/$conns]}, ${AUDIT_ERR[off/$scenario/$conns]} |")
    check "audit cost ≤ 15 %: $label (c$conns)" "$cost % (with ÷ without, the median of the slices' $(sed 's/ $//; s/ /, /g' <<<"$ratios"))" "$ratio >= 0.85"
  done
  {
    echo
    echo "## What the audit trail costs$ON_DB"
    echo
    echo "| measurement | conns | with the trail, req/s by slice | without | with ÷ without, by slice | median | cost | errors (with, without) |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    printf '%s\n' "${rows[@]}"
    echo
    echo "The normal build and one built with \`-tags noaudit\` (audit_off.go: no entry built or written) run side by"
    echo "side, each on a fresh instance seeded like the other parts (101 employees, 500 tickets over employees"
    echo "1..100), and after an unrecorded $WARMUP warm-up each take turns: $AUDIT_ROUNDS slices of $AUDIT_SLICE each, the first of"
    echo "a pair alternating, so that whatever else the machine does weighs on both alike. Ticket creation as in the"
    echo "throughput part (\`POST /api/v1/ticket/101\`), the mixed workload as in the mixed part ($((100 - MIXED_WRITES))% one"
    echo "employee, $MIXED_WRITES% ticket create; reads only in the warm-up); the data grows from slice to slice. Cost: 1 − the"
    echo "median of the slices' ratios, with the trail ÷ without (target ≤ 15 %)."
  } >>"$REPORT"
}

if ((RUN_THROUGHPUT)); then part_throughput; else throughput_not_run "$ONLY=only"; fi
if ((RUN_MIXED)); then part_mixed; else mixed_not_run "$( [ -n "$ONLY" ] && echo "$ONLY=only" || echo MIXED=0)"; fi
if ((RUN_SCALE)); then
  part_scale
else
  not_run "flat cost: GET /employee/{id}, /ticket/my/, /ticket/?after_id=N-100, the filtered lists at $SCALE_TICKETS tickets ≤ 1.5 × slower than at $SMALL_TICKETS (c16, c64)" \
    "the data-growth part runs with SCALE=1 or SCALE=only"
fi
if ((RUN_AUDIT)); then
  part_audit
else
  for spec in "POST /ticket/{id}|64" "mixed workload|16" "mixed workload|64"; do
    not_run "audit cost ≤ 15 %: ${spec%|*} (c${spec#*|})" \
      "${NOAUDIT_NOTE:-$( [ -n "$ONLY" ] && echo "$ONLY=only" || echo AUDIT=0)}"
  done
fi

elapsed=$(($(date +%s) - started))
{
  echo
  echo "## Targets"
  echo
  echo "| target | measured | |"
  echo "| --- | --- | --- |"
  printf '%s\n' "${CHECKS[@]}"
  echo
  echo "Load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "$PASSED passed, $FAILED failed$( ((NOT_RUN)) && printf ', %s not measured in this run' "$NOT_RUN"). Reproduce: \`$( [ "$DB_KIND" = postgres ] && printf "BENCH_DATABASE_URL='%s' " "$(redacted_url)")$( [ "$SCALE" != 0 ] && printf 'SCALE=%s ' "$SCALE")$( [ "$MIXED" != 1 ] && printf 'MIXED=%s ' "$MIXED")$( [ "$PEER" != 1 ] && printf 'PEER=%s ' "$PEER")$( [ "$AUDIT" != 1 ] && printf 'AUDIT=%s ' "$AUDIT")$( [ "$AUDIT_ROUNDS" != 5 ] && printf 'AUDIT_ROUNDS=%s ' "$AUDIT_ROUNDS")$( [ "$AUDIT_SLICE" != 4s ] && printf 'AUDIT_SLICE=%s ' "$AUDIT_SLICE")$( [ "$QUICK" = 1 ] && printf 'QUICK=1 ')bash bench/run.sh\` (took $((elapsed / 60)) min $((elapsed % 60)) s)."
} >>"$REPORT"

cat "$REPORT"
mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
say "report written to $OUT"
