#!/bin/sh
# ticketapi-backup [DIR [KEEP]]: a consistent copy of the live database into
# DIR (default /var/lib/ticketapi/backups) named by the UTC time, then
# removes all but the KEEP newest copies (default 14). Run it as the service
# user: ticketapi-backup.timer does, nightly; by hand:
#   runuser -u ticketapi -- ticketapi-backup
# `ticketapi backup` uses SQLite's VACUUM INTO, so the server keeps serving
# and writing meanwhile, and checks the copy with PRAGMA integrity_check.
# Copy DIR to another machine too: a backup on the same disk is not enough.
set -eu
dir=${1:-/var/lib/ticketapi/backups}
keep=${2:-14}
config=${TICKETAPI_CONFIG:-/etc/ticketapi/config.json}
bin=${TICKETAPI_BIN:-/usr/local/bin/ticketapi}

case $keep in
'' | *[!0-9]* | 0) echo "ticketapi-backup: KEEP must be a positive number, not '$keep'" >&2; exit 2 ;;
esac
umask 077
mkdir -p "$dir"
"$bin" backup -config "$config" "$dir/ticketapi-$(date -u +%Y%m%dT%H%M%SZ).db"
# The names sort by time, and a glob expands sorted: the oldest come first.
set -- "$dir"/ticketapi-????????T??????Z.db
excess=$(($# - keep))
for old; do
	[ "$excess" -gt 0 ] || break
	rm -f -- "$old"
	excess=$((excess - 1))
done
