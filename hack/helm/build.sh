#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy (version pinned below) into the cache the control-plane
# binaries use (~/.cache/vectorops, or VECTOROPS_CACHE), and prints the path of the binary. A second
# run only checks and prints. HELM, when set to an executable, is used as is.
#
# The ldflags are the ones helm's own Makefile sets: the version `helm version` reports, and the
# Kubernetes version `helm template` and `helm lint` assume without a cluster (from the client-go
# helm is built with), so the chart's kubeVersion constraint is checked against a current one.
set -euo pipefail
HELM_VERSION=v3.22.0
cache="${VECTOROPS_CACHE:-$HOME/.cache/vectorops}"
bin="$cache/helm/$HELM_VERSION"

log() { printf 'helm: %s\n' "$*" >&2; }

if [ -n "${HELM:-}" ] && [ -x "$HELM" ]; then
  log "using HELM=$HELM"
  echo "$HELM"
  exit 0
fi
if [ ! -x "$bin/helm" ]; then
  log "building helm $HELM_VERSION from the Go module proxy (about two minutes the first time)"
  mkdir -p "$bin"
  # Outside any module: `go install pkg@version` resolves helm's own go.mod, not ours.
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  go mod download "helm.sh/helm/v3@$HELM_VERSION"
  moddir="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  client_go="$(awk '$1=="k8s.io/client-go"{print $2}' "$moddir/go.mod")" # v0.MINOR.PATCH -> Kubernetes 1.MINOR
  k8s_minor="$(echo "$client_go" | cut -d. -f2)"
  ldflags="-w -s -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in pkg/lint/rules pkg/chartutil; do
    ldflags="$ldflags -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
  done
  tmp="$(mktemp -d "$bin/.build.XXXXXX")"
  CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$tmp/helm" "$bin/helm"
  rmdir "$tmp"
fi
echo "$bin/helm"
