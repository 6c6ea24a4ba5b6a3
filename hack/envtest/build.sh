#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kubectl from the Go module proxy (versions pinned in go.mod)
# into a cache shared by every clone on this machine, and fetches the third-party CRDs we test
# against. Prints the directory holding the binaries. A second run only checks and prints.
#
# KUBEBUILDER_ASSETS, when set to a directory holding etcd and kube-apiserver, is used as is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/go.mod")"
cache="${VECTOROPS_CACHE:-$HOME/.cache/vectorops}"
bin="$cache/envtest/$k8s_version"
crds="$cache/third-party-crds"
PROM_OPERATOR_VERSION=v0.85.0
GATEWAY_API_VERSION=v1.4.1

log() { printf 'envtest: %s\n' "$*" >&2; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  bin="$KUBEBUILDER_ASSETS"
  log "using KUBEBUILDER_ASSETS=$bin"
else
  mkdir -p "$bin"
  cd "$here"
  build() { # name, package
    if [ ! -x "$bin/$1" ]; then
      log "building $1 ($k8s_version) - the first build takes several minutes"
      go build -trimpath -o "$bin/$1.tmp" "$2"
      mv "$bin/$1.tmp" "$bin/$1"
    fi
  }
  build etcd ./cmd/etcd
  build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
  build kubectl k8s.io/kubernetes/cmd/kubectl
fi

# CRDs of others (PrometheusRule/ServiceMonitor/PodMonitor, Gateway API HTTPRoute), from their Go modules.
if [ ! -f "$crds/.done-$PROM_OPERATOR_VERSION-$GATEWAY_API_VERSION" ]; then
  mkdir -p "$crds"
  moddir() { (cd "$here" && go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'); }
  prom="$(moddir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")"
  for kind in prometheusrules servicemonitors podmonitors; do
    cp "$prom/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$crds/"
  done
  gw="$(moddir "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION")"
  for kind in gatewayclasses gateways httproutes; do
    cp "$gw/config/crd/standard/gateway.networking.k8s.io_$kind.yaml" "$crds/"
  done
  chmod u+w "$crds"/*.yaml
  touch "$crds/.done-$PROM_OPERATOR_VERSION-$GATEWAY_API_VERSION"
fi
echo "$bin"
