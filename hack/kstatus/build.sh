#!/usr/bin/env bash
# Builds hack/kstatus (a few lines around kstatus, sigs.k8s.io/cli-utils/pkg/kstatus/status: the
# library Flux, kpt and cli-utils decide an object's health with; version pinned in go.mod and go.sum)
# from the Go module proxy into the cache the control-plane binaries use (~/.cache/vectorops, or
# VECTOROPS_CACHE), and prints the path of the binary. A second run only checks and prints. KSTATUS,
# when set to an executable, is used as is.
#
# The cache folder is named after the cli-utils version and a hash of main.go, go.mod and go.sum, so
# changing any of them builds afresh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${VECTOROPS_CACHE:-$HOME/.cache/vectorops}"
version="$(awk '$1=="sigs.k8s.io/cli-utils"{print $2}' "$here/go.mod")"
hash="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
bin="$cache/kstatus/$version-$hash"

log() { printf 'kstatus: %s\n' "$*" >&2; }

if [ -n "${KSTATUS:-}" ] && [ -x "$KSTATUS" ]; then
  log "using KSTATUS=$KSTATUS"
  echo "$KSTATUS"
  exit 0
fi
if [ ! -x "$bin/kstatus" ]; then
  log "building kstatus (cli-utils $version) from the Go module proxy (under a minute the first time)"
  mkdir -p "$bin"
  tmp="$(mktemp -d "$bin/.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  # -mod=readonly: go.sum is committed, so the build uses exactly the pinned versions.
  (cd "$here" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -ldflags "-w -s" -o "$tmp/kstatus" .)
  mv "$tmp/kstatus" "$bin/kstatus"
fi
echo "$bin/kstatus"
