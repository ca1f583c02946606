#!/usr/bin/env bash
# deploy/install.sh DOMAIN [BINARY]: installs ticketapi on a Debian or Ubuntu
# host behind NGINX with HTTPS. Run it as root from the repository:
#
#   CGO_ENABLED=0 go build -o ticketapi .
#   sudo deploy/install.sh api.example.org ./ticketapi
#
# Safe to run again (to upgrade the binary, or after certbot): the secret
# key, the config and the database are created once and then left alone.
#
# It installs: nginx, certbot and curl (apt); the system user "ticketapi";
# /usr/local/bin/ticketapi and /usr/local/bin/ticketapi-backup;
# /etc/ticketapi/config.json (root:ticketapi 0640) and
# /etc/ticketapi/ticketapi.env (root 0600: TICKETAPI_SECRET_KEY); the units
# ticketapi.service and ticketapi-backup.timer (nightly backup into
# /var/lib/ticketapi/backups, 14 kept); the NGINX site
# /etc/nginx/sites-available/ticketapi.conf.
#
# The first admin's password: on the first install (no database yet) this
# script generates one, passes it to the first start through
# TICKETAPI_ADMIN_PASSWORD in the env file, removes it from the file once
# the server has started, and prints it. It is never written to the journal.
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
state=/var/lib/ticketapi
webroot=/var/www/letsencrypt
site=/etc/nginx/sites-available/ticketapi.conf

die() { echo "install.sh: $*" >&2; exit 1; }
step() { printf '== %s\n' "$*"; }

[ -n "$domain" ] || die "usage: sudo deploy/install.sh DOMAIN [BINARY]   (DOMAIN: the host name of the API, e.g. api.example.org)"
[[ $domain =~ ^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$ ]] ||
	die "'$domain' is not a host name"
[ "$(id -u)" = 0 ] || die "run it as root: sudo $0 $*"
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
	useradd --system --user-group --home-dir "$state" --no-create-home --shell /usr/sbin/nologin ticketapi
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
			if [ ! -e "$state/ticketapi.db" ]; then
				# Letters and digits plus fixed classes, so it meets the
				# password rules (upper, lower, digit, one of !@#$%^&*).
				echo "TICKETAPI_ADMIN_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 20)Aa1!"
			fi
		} >"$env_file.new"
	)
	mv "$env_file.new" "$env_file"
else
	echo "keeping $env_file"
fi
chown root:root "$env_file"
chmod 0600 "$env_file"
# Still there when an earlier run stopped before the first start.
admin_password=$(sed -n 's/^TICKETAPI_ADMIN_PASSWORD=//p' "$env_file")

step "systemd units"
install -m 0644 "$here/ticketapi.service" "$here/ticketapi-backup.service" "$here/ticketapi-backup.timer" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --quiet ticketapi.service ticketapi-backup.timer
# Type=notify: returns once the server listens (or has failed to start).
systemctl restart ticketapi.service ||
	die "ticketapi did not start; see: journalctl -u ticketapi -n 50"
systemctl start ticketapi-backup.timer
for _ in $(seq 50); do
	curl -fsS -o /dev/null http://127.0.0.1:8000/readyz && break
	sleep 0.2
done
curl -fsS -o /dev/null http://127.0.0.1:8000/readyz || die "ticketapi does not answer /readyz on 127.0.0.1:8000"

step "NGINX site for $domain"
install -d -m 0755 "$webroot"
cert=/etc/letsencrypt/live/$domain/fullchain.pem
if [ -e "$cert" ]; then
	sed "s/example\.com/$domain/g" "$here/nginx.conf" >"$site.new"
else
	# No certificate yet: the port-80 part only, so certbot can answer its
	# challenge. The API itself is never served over plain HTTP.
	cat >"$site.new" <<EOF
# Temporary (install.sh): until the certificate for $domain exists.
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
EOF
fi
mv "$site.new" "$site"
ln -sfn "$site" /etc/nginx/sites-enabled/ticketapi.conf
nginx -t -q || die "nginx -t refuses the configuration (see above)"
systemctl enable --quiet nginx
systemctl reload-or-restart nginx

echo
if [ -e "$cert" ]; then
	echo "Done: https://$domain/api/v1/docs"
else
	echo "Next: get the certificate (the DNS name $domain must point at this host, port 80 open), then run this script again:"
	echo
	echo "  sudo certbot certonly --webroot -w $webroot -d $domain --deploy-hook 'systemctl reload nginx'"
	echo "  sudo $0 $domain $bin"
	echo
	echo "certbot's timer renews the certificate and reloads NGINX; check with: sudo certbot renew --dry-run"
fi
if [ -n "$admin_password" ]; then
	# The server has started with it, so the admin exists in the database:
	# the password is not kept (a run that failed before here shows it again).
	sed -i '/^TICKETAPI_ADMIN_PASSWORD=/d' "$env_file"
	echo
	echo "The first admin is 'admin' with the password (shown only now; change it after logging in):"
	echo
	echo "  $admin_password"
fi
