#!/usr/bin/env bash
# Copies the console's third-party browser assets from the npm registry into static/vendor/ (git-ignored), so the
# package serves them and nothing is fetched at run time. Idempotent: a no-op once the pinned version is present.
# Without npm or the registry it warns and leaves the rest of `make install` alone (the console's map then does not
# load and its browser tests skip); SAQSHY_REQUIRE_ASSETS=1 makes that an error (release builds).
set -euo pipefail

LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.4}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENDOR="$HERE/static/vendor"
STAMP="$VENDOR/.leaflet-$LEAFLET_VERSION"

if [[ -f "$STAMP" && -f "$VENDOR/leaflet/leaflet.js" && -f "$VENDOR/leaflet/leaflet.css" ]]; then
  exit 0
fi

fail() {
  echo "build_assets.sh: $1; the console's map will not load (streams/console/static/vendor/ missing)" >&2
  [[ "${SAQSHY_REQUIRE_ASSETS:-0}" == "1" ]] && exit 1
  exit 0
}

command -v npm >/dev/null || fail "npm is not installed (apt-get install npm)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# npm pack downloads the published tarball only: no install scripts run, no node_modules tree.
(cd "$TMP" && npm pack --silent "leaflet@$LEAFLET_VERSION" >/dev/null) || fail "npm pack leaflet@$LEAFLET_VERSION failed"
tar -xzf "$TMP"/leaflet-*.tgz -C "$TMP"

rm -rf "$VENDOR/leaflet"
mkdir -p "$VENDOR/leaflet/images"
cp "$TMP/package/dist/leaflet.js" "$TMP/package/dist/leaflet.css" "$VENDOR/leaflet/"
cp "$TMP/package/dist/images/"*.png "$VENDOR/leaflet/images/"
cp "$TMP/package/LICENSE" "$VENDOR/leaflet/LICENSE"
rm -f "$VENDOR"/.leaflet-*
touch "$STAMP"
echo "console assets: leaflet $LEAFLET_VERSION -> $VENDOR/leaflet"
