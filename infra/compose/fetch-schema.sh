#!/usr/bin/env bash
# The official Compose Specification JSON schema, as `docker compose` validates with it: schema/compose-spec.json
# of the Go module github.com/compose-spec/compose-go/v2 (the loader docker compose is built on). It is fetched
# through the Go module proxy into the default module cache (once; later runs are offline) and copied to
# infra/compose/target/ (git-ignored, never committed). Prints the copy's path.
#
#   infra/compose/fetch-schema.sh            # COMPOSE_GO_VERSION=v2.16.2 by default
#
# tests/deploy/test_compose.py validates docker-compose.yml against it.
set -euo pipefail
VERSION="${COMPOSE_GO_VERSION:-v2.16.2}"
MODULE="github.com/compose-spec/compose-go/v2"
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="$HERE/target/compose-spec-$VERSION.json"

if [ ! -s "$OUT" ]; then
  command -v go >/dev/null || { echo "fetch-schema: go is not installed" >&2; exit 3; }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # outside any module (a temp dir), so nothing is added to a go.mod; -mod=mod in case GOFLAGS says otherwise
  json="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION")" || {
    echo "fetch-schema: go mod download $MODULE@$VERSION failed: $json" >&2; exit 1; }
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [ -z "$dir" ] || [ ! -f "$dir/schema/compose-spec.json" ]; then
    echo "fetch-schema: no schema/compose-spec.json in the download of $MODULE@$VERSION: $json" >&2; exit 1
  fi
  mkdir -p "$HERE/target"
  install -m 0644 "$dir/schema/compose-spec.json" "$OUT.tmp"
  mv "$OUT.tmp" "$OUT"
fi
echo "$OUT"
