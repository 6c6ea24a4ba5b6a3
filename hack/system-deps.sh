#!/usr/bin/env bash
# Installs the Debian packages the tests and `make dev` need, when they are missing.
# Go and Python come with the machine; everything else is installed here, not by hand.
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v runuser >/dev/null || need+=(util-linux)
command -v redis-server >/dev/null || need+=(redis-server)
command -v promtool >/dev/null || need+=(prometheus)
# Lua 5.1, the dialect of Argo CD's interpreter (gopher-lua), runs the chart's Argo CD health checks.
command -v lua5.1 >/dev/null || need+=(lua5.1)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
