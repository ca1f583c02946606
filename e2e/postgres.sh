#!/usr/bin/env bash
# Starts a local PostgreSQL for the tests, installing Debian's package when
# it is missing, and prints the line that points the suite at it:
#
#   eval "$(bash e2e/postgres.sh)"   # sets TICKETAPI_TEST_DATABASE_URL
#   go test -race ./...              # now every end-to-end test runs on PostgreSQL
#
# Needs root (apt-get, the postgres system user). Safe to run again.
set -euo pipefail

if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi
version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
if ! pg_lsclusters -h | grep -q "^$version main "; then
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $3 }')
for _ in $(seq 50); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.2
done

as_postgres() { (cd / && runuser -u postgres -- "$@"); }
as_postgres psql -p "$port" -q -v ON_ERROR_STOP=1 >&2 <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ticketapi') THEN
    CREATE ROLE ticketapi LOGIN PASSWORD 'ticketapi';
  END IF;
END $$;
SQL
if [ "$(as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = 'ticketapi_test'")" != 1 ]; then
  as_postgres createdb -p "$port" -O ticketapi ticketapi_test >&2
fi
# pg_trgm (contrib, in Debian's postgresql package) serves q's text
# indexes. The tests make a schema each and drop it after: the extension
# lives in public, once, so dropping a test's schema never takes it away.
as_postgres psql -p "$port" -d ticketapi_test -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public' >&2
echo "export TICKETAPI_TEST_DATABASE_URL='postgres://ticketapi:ticketapi@127.0.0.1:$port/ticketapi_test?sslmode=disable'"
