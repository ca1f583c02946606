#!/usr/bin/env bash
# deploy/install.sh DOMAIN [BINARY]: installs ticketapi on a Debian or Ubuntu
# host behind NGINX with HTTPS. Run it as root from the repository (with
# sudo, or from a root shell: a minimal Debian has no sudo):
#
#   CGO_ENABLED=0 go build -o ticketapi .
#   deploy/install.sh api.example.org ./ticketapi
#
# Safe to run again (to upgrade the binary, or after certbot): the secret
# key, the config, the database and the NGINX site are created once and
# then left alone, so edits to them are kept. The one exception: the
# temporary site made before the certificate existed is replaced by the
# full one once it does.
#
# It installs: nginx, certbot and curl (apt); the system user "ticketapi";
# /usr/local/bin/ticketapi and /usr/local/bin/ticketapi-backup;
# /etc/ticketapi/config.json (root:ticketapi 0640) and
# /etc/ticketapi/ticketapi.env (root 0600: TICKETAPI_SECRET_KEY); the units
# ticketapi.service and ticketapi-backup.timer (nightly backup into
# /var/lib/ticketapi/backups, 14 kept); the NGINX site
# /etc/nginx/sites-available/ticketapi.conf.
#
# The first admin's password: each start this script makes is offered a new
# one through TICKETAPI_ADMIN_PASSWORD in the env file, which the server
# uses only when it creates the first admin (an empty database: a first
# install, or a database moved away). The script removes it from the file
# whatever happens, prints it when the server's log says it was used, and
# then restarts the server once more so that no process keeps it in its
# environment. It is never written to the journal.
#
# HTTPS needs a certificate: until /etc/letsencrypt/live/DOMAIN exists the
# site serves only certbot's challenge on port 80 (everything else 503), and
# the script prints the certbot command; run it, then run this script again.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
domain=${1:-}
bin=${2:-$here/../ticketapi}
etc=/etc/ticketapi
env_file=$etc/ticketapi.env
webroot=/var/www/letsencrypt
site=/etc/nginx/sites-available/ticketapi.conf
enabled=/etc/nginx/sites-enabled/ticketapi.conf
# The first line of the site written before the certificate exists.
temporary_site_marker="# Temporary (install.sh): until the certificate"
# What the server logs when it creates the first admin with the offered password.
created_with_offer="with the password from TICKETAPI_ADMIN_PASSWORD"

die() { echo "install.sh: $*" >&2; exit 1; }
step() { printf '== %s\n' "$*"; }

[ -n "$domain" ] || die "usage: deploy/install.sh DOMAIN [BINARY], as root   (DOMAIN: the host name of the API, e.g. api.example.org)"
[[ $domain =~ ^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$ ]] ||
	die "'$domain' is not a host name"
[ "$(id -u)" = 0 ] || die "run it as root (sudo $0 $*, or from a root shell where there is no sudo)"
[ -x "$bin" ] || die "no binary at $bin: build it first with CGO_ENABLED=0 go build -o ticketapi ."
"$bin" version >/dev/null || die "$bin does not run on this host"
for f in ticketapi.service ticketapi-backup.service ticketapi-backup.timer ticketapi-backup.sh nginx.conf config.json; do
	[ -f "$here/$f" ] || die "$here/$f is missing: run the script from the repository"
done

step "packages"
missing=()
for pkg in nginx certbot curl; do
	command -v "$pkg" >/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

step "user and files"
if ! getent passwd ticketapi >/dev/null; then
	useradd --system --user-group --home-dir /var/lib/ticketapi --no-create-home --shell /usr/sbin/nologin ticketapi
fi
install -m 0755 "$bin" /usr/local/bin/ticketapi
install -m 0755 "$here/ticketapi-backup.sh" /usr/local/bin/ticketapi-backup
install -d -m 0750 -o root -g ticketapi "$etc"
if [ ! -e "$etc/config.json" ]; then
	sed "s/example\.com/$domain/g" "$here/config.json" >"$etc/config.json.new"
	chown root:ticketapi "$etc/config.json.new"
	chmod 0640 "$etc/config.json.new"
	mv "$etc/config.json.new" "$etc/config.json"
else
	echo "keeping $etc/config.json"
fi

# The secret key, once: a new key would end every token issued.
if [ ! -e "$env_file" ]; then
	(
		umask 077
		{
			echo "# ticketapi secrets, read by systemd (root only). Written once by install.sh."
			echo "TICKETAPI_SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		} >"$env_file.new"
	)
	mv "$env_file.new" "$env_file"
else
	echo "keeping $env_file"
fi
chown root:root "$env_file"
chmod 0600 "$env_file"

# The password offered to the first admin; one left by an interrupted run
# (or put there by hand) is offered again, else a new one: base64 letters
# plus fixed classes, so it meets the password rules.
offered_password=$(sed -n 's/^TICKETAPI_ADMIN_PASSWORD=//p' "$env_file")
forget_offered_password() { sed -i '/^TICKETAPI_ADMIN_PASSWORD=/d' "$env_file"; }
trap forget_offered_password EXIT
if [ -z "$offered_password" ]; then
	offered_password="$(head -c 15 /dev/urandom | base64 | tr '+/' 'Xy')Aa1!"
	echo "TICKETAPI_ADMIN_PASSWORD=$offered_password" >>"$env_file"
fi

# The address the server listens on, as the config says (the default
# otherwise), with a wildcard host probed on loopback.
listen_addr=$(sed -n 's/.*"listen_addr"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p;T;q' "$etc/config.json")
listen_addr=${listen_addr:-127.0.0.1:8000}
probe_host=${listen_addr%:*}
case $probe_host in
'' | 0.0.0.0) probe_host=127.0.0.1 ;;
'[::]') probe_host='[::1]' ;;
esac
readyz=http://$probe_host:${listen_addr##*:}/readyz
# wait_until_ready: /readyz answers within 10 s; quiet until the last try,
# so a slow start prints nothing.
wait_until_ready() {
	for _ in $(seq 50); do
		curl -fs -o /dev/null --max-time 2 "$readyz" && return 0
		sleep 0.2
	done
	curl -fsS -o /dev/null --max-time 5 "$readyz"
}

step "systemd units"
install -m 0644 "$here/ticketapi.service" "$here/ticketapi-backup.service" "$here/ticketapi-backup.timer" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --quiet ticketapi.service ticketapi-backup.timer
# Failed starts before this run (a bad config since fixed) may have used up
# the start limit, which would refuse this start.
systemctl reset-failed ticketapi.service 2>/dev/null || true
# Type=notify: returns once the server listens (or has failed to start).
systemctl restart ticketapi.service ||
	die "ticketapi did not start; see: journalctl -u ticketapi -n 50"
not_ready="ticketapi does not answer $readyz (listen_addr $listen_addr in $etc/config.json); see: journalctl -u ticketapi -n 50 (an address other than localhost needs IPAddressAllow=, docs/deploy.md)"
ready=
if wait_until_ready; then ready=yes; fi
# Did this start create the first admin? Its log says so before it says
# it listens; lines reach the journal within moments.
invocation=$(systemctl show -p InvocationID --value ticketapi.service)
start_log=
for _ in $(seq 50); do
	start_log=$(journalctl -q -o cat "_SYSTEMD_INVOCATION_ID=$invocation" 2>/dev/null || true)
	case $start_log in *"ticketapi listening"*) break ;; esac
	sleep 0.1
done
first_admin_password=
case $start_log in
*"$created_with_offer"*) first_admin_password=$offered_password ;;
*"ticketapi listening"*) ;;
*)
	echo "install.sh: could not read the server's start in the journal; if its database was new, the first admin's password is the one below" >&2
	first_admin_password=$offered_password
	;;
esac
forget_offered_password
if [ -n "$first_admin_password" ]; then
	# Shown now, so a later step that fails cannot lose it.
	echo
	echo "The first admin is 'admin' with the password (shown only now; change it after logging in):"
	echo
	echo "  $first_admin_password"
	echo
fi
[ -n "$ready" ] || die "$not_ready"
if [ -n "$first_admin_password" ]; then
	# The running server read the password from its environment, where
	# /proc/PID/environ would show it until its next start: start it anew.
	systemctl restart ticketapi.service || die "ticketapi did not start again; see: journalctl -u ticketapi -n 50"
	wait_until_ready || die "$not_ready"
fi
systemctl start ticketapi-backup.timer

step "NGINX site for $domain"
install -d -m 0755 "$webroot"
cert=/etc/letsencrypt/live/$domain/fullchain.pem
if [ -e "$cert" ]; then
	sed "s/example\.com/$domain/g" "$here/nginx.conf" >"$site.new"
else
	# No certificate yet: the port-80 part only, so certbot can answer its
	# challenge. The API itself is never served over plain HTTP.
	cat >"$site.new" <<EOF_SITE
$temporary_site_marker for $domain exists.
server {
    listen 80;
    listen [::]:80;
    server_name $domain;
    location ^~ /.well-known/acme-challenge/ {
        root $webroot;
        default_type text/plain;
    }
    location / {
        return 503;
    }
}
EOF_SITE
fi
# An operator's site (no longer the temporary one) is theirs: kept, with the
# shipped one beside it when they differ.
if [ -e "$site" ] && ! head -n 1 "$site" | grep -qF "$temporary_site_marker"; then
	if cmp -s "$site.new" "$site"; then
		rm -f "$site.new" "$site.shipped"
	else
		mv "$site.new" "$site.shipped"
		echo "keeping $site (edited); the shipped site is in $site.shipped: diff -u $site $site.shipped"
	fi
	site_changed=
else
	[ ! -e "$site" ] || cp -p "$site" "$site.previous"
	mv "$site.new" "$site"
	site_changed=yes
fi
link_was_there=
[ ! -L "$enabled" ] || link_was_there=yes
ln -sfn "$site" "$enabled"
if ! nginx -t -q; then
	# Leave NGINX as it was, so its next restart (or a reboot) still works.
	if [ -n "$site_changed" ] && [ -e "$site.previous" ]; then
		mv "$site.previous" "$site"
	elif [ -n "$site_changed" ]; then
		rm -f "$site"
	fi
	if [ -z "$link_was_there" ] || [ ! -e "$site" ]; then rm -f "$enabled"; fi
	die "nginx -t refuses the configuration (see above); the NGINX site is back as it was before this run"
fi
rm -f "$site.previous"
systemctl enable --quiet nginx
systemctl reload-or-restart nginx

echo
if [ -e "$cert" ]; then
	echo "Done: https://$domain/api/v1/docs"
else
	echo "Next: get the certificate (the DNS name $domain must point at this host, port 80 open), then run this script again (both as root):"
	echo
	echo "  certbot certonly --webroot -w $webroot -d $domain --deploy-hook 'systemctl reload nginx'"
	echo "  $0 $domain $bin"
	echo
	echo "certbot's timer renews the certificate and reloads NGINX; check with: certbot renew --dry-run"
fi
[ -z "$first_admin_password" ] || echo "The first admin's password is shown above, after \"systemd units\"."
