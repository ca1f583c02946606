#!/usr/bin/env bash
# Re-vendor Swagger UI (swagger-ui-dist from npm) into this directory, so the
# docs page works offline with no CDN. Usage: ./refresh.sh [VERSION]
# Also updates the version noted in index.html; when you change the version,
# update PINNED_VERSION too.
set -euo pipefail

PINNED_VERSION="5.35.0"   # the swagger-ui-dist version in use
VERSION="${1:-$PINNED_VERSION}"
FILES=(
  swagger-ui.css
  swagger-ui-bundle.js
  swagger-ui-bundle.js.LICENSE.txt
  index.css
  favicon-32x32.png
  favicon-16x16.png
  oauth2-redirect.html
  oauth2-redirect.js
  LICENSE
  NOTICE
)

dest="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "swagger-ui-dist@${VERSION}" >/dev/null)
tar -xzf "$tmp/swagger-ui-dist-${VERSION}.tgz" -C "$tmp"
for f in "${FILES[@]}"; do
  cp "$tmp/package/$f" "$dest/$f"
done
sed -i "s/swagger-ui-dist [0-9][0-9.]*/swagger-ui-dist ${VERSION}/" "$dest/index.html"
echo "swagger-ui-dist ${VERSION} copied to ${dest}"
