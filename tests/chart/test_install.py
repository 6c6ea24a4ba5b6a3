"""The chart installed into the local control plane with the real helm CLI, upgraded and uninstalled;
between those, the real operator and gateway run with exactly the chart's ServiceAccount permissions (a
token of each ServiceAccount, no admin credentials) and reconcile every kind to the Ready states the
integration tests expect with admin credentials.

The tests of this module run in order on one release."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.chart.argocd_health import health
from tests.chart.conftest import CHART, RELEASE_NS, run_helm, values_file
from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is, roll_out, secret
from tests.processes import gateway_process
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.qdrant_standin import StandInQdrant

API = "vectorops.io/v1alpha1"
RELEASE = "vo"
PEERING = "vo-vectorops"
PROVIDER_KEY = "sk-chart-rbac-4f1c"
CLIENT_KEY = "client-chart-rbac-77aa"


@dataclass(frozen=True)
class Mode:
    """One RBAC mode of the chart, installed, used and uninstalled in turn on the same control plane (the
    second install finds the CRDs and the default store the first one kept, and adopts them)."""

    name: str
    team: str  # the namespace the operator reconciles in (and the gateway serves)
    first: bool  # the first install on this control plane: CRDs not served yet

    @property
    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "gateway": {"namespace": self.team, "replicas": 2},
            "defaultStore": {
                "name": "default",
                "create": True,
                "namespace": self.team,
                "spec": {"qdrant": {"url": "http://qdrant:6333"}},
            },
            "serviceMonitor": {"enabled": True},
        }
        if self.name == "namespaced":
            values["rbac"] = {"scope": "namespaced", "namespaces": [self.team]}
        return values

    def peering(self, cluster: Cluster) -> dict[str, Any]:
        if self.name == "namespaced":
            return cluster.get(self.team, "kopfpeering", PEERING)
        return cluster.get("", "clusterkopfpeering", PEERING)


MODES = [Mode("cluster", "team-a", first=True), Mode("namespaced", "team-b", first=False)]
# What a log shows when RBAC is short: the apiserver's 403, kopf's fallbacks, our own condition reasons.
DENIED = re.compile(r"\(403\)|\b403 Forbidden|\bstatus 403\b|[Ff]orbidden|Not enough permissions")


@pytest.fixture(scope="module")
def cluster(chart_plane: ControlPlane) -> Cluster:
    for ns in (RELEASE_NS, *(m.team for m in MODES)):
        chart_plane.kubectl("create", "namespace", ns)
    return Cluster(chart_plane)


@pytest.fixture(scope="module", params=MODES, ids=lambda m: m.name)
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def values(tmp_path_factory: pytest.TempPathFactory, mode: Mode) -> Path:
    return values_file(tmp_path_factory.mktemp("values"), mode.values)


def helm_in(helm: str, cluster: Cluster, *args: str, check: bool = True) -> Any:
    return run_helm(helm, *args, kubeconfig=cluster.cp.kubeconfig, check=check)


def eventually(check: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def token_kubeconfig(cluster: Cluster, service_account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (a TokenRequest token), nothing else."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", RELEASE_NS, "--duration=2h"
    ).stdout.strip()
    config = yaml.safe_load(cluster.cp.kubeconfig.read_text())
    config["users"] = [{"name": service_account, "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = service_account
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def run_init_container(helm: str, cluster: Cluster, tmp: Path) -> str:
    """Play the kubelet for the operator pod's init container: files/scripts/ensure_objects.py with the
    objects of the release's ConfigMap, as the operator's ServiceAccount."""
    manifest = helm_in(helm, cluster, "get", "manifest", RELEASE, "-n", RELEASE_NS).stdout
    (configmap,) = [
        d
        for d in yaml.safe_load_all(manifest)
        if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == f"{RELEASE}-vectorops-operator-objects"
    ]
    for key, text in configmap["data"].items():
        (tmp / key).write_text(text)
    token = cluster.kubectl(
        "create", "token", f"{RELEASE}-vectorops-operator", "-n", RELEASE_NS, "--duration=10m"
    ).stdout.strip()
    (tmp / "token").write_text(token)
    env = {
        **os.environ,
        "KUBE_API": cluster.cp.url,
        "KUBE_TOKEN_FILE": str(tmp / "token"),
        "KUBE_CA_FILE": str(cluster.cp.ca_file),
        "TIMEOUT_SECONDS": "30",
    }
    proc = subprocess.run(
        [sys.executable, str(tmp / "ensure_objects.py"), str(tmp / "objects.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_install(helm: str, cluster: Cluster, values: Path, mode: Mode, tmp_path: Path) -> None:
    out = helm_in(helm, cluster, "install", RELEASE, str(CHART), "-n", RELEASE_NS, "-f", str(values)).stdout
    notes = out[out.index("NOTES:") :]  # what to do next: the gateway's namespace and how to make a key
    assert f"kubectl -n {mode.team} label secret my-app-key vectorops.io/gateway-key=true" in notes, notes
    crds = json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
    ours = {c["metadata"]["name"] for c in crds if c["spec"]["group"] in ("vectorops.io", "kopf.dev")}
    assert len(ours) == 6
    assert cluster.get(RELEASE_NS, "statefulset", f"{RELEASE}-vectorops-operator")["spec"]["replicas"] == 1
    # The operator pod's init container creates the peering object and the default store.
    out = run_init_container(helm, cluster, tmp_path)
    assert out.count("applied") == 2, out
    assert mode.peering(cluster)["metadata"]["name"] == PEERING
    store = cluster.get(mode.team, "vectorstore", "default")
    assert store["spec"]["qdrant"]["url"] == "http://qdrant:6333"


def test_upgrade_changes_a_value(
    helm: str, cluster: Cluster, values: Path, mode: Mode, tmp_path: Path
) -> None:
    uid = mode.peering(cluster)["metadata"]["uid"]
    sts = cluster.get(RELEASE_NS, "statefulset", f"{RELEASE}-vectorops-operator")
    checksum = sts["spec"]["template"]["metadata"]["annotations"]["checksum/objects"]
    helm_in(
        helm, cluster, "upgrade", RELEASE, str(CHART), "-n", RELEASE_NS, "-f", str(values),
        "--set", "gateway.replicas=3", "--set", "operator.logLevel=DEBUG",
        "--set", "defaultStore.spec.qdrant.url=http://qdrant.qdrant:6333",
    )  # fmt: skip
    assert cluster.get(RELEASE_NS, "deployment", f"{RELEASE}-vectorops-gateway")["spec"]["replicas"] == 3
    sts = cluster.get(RELEASE_NS, "statefulset", f"{RELEASE}-vectorops-operator")
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VECTOROPS_LOG_LEVEL"] == "DEBUG"
    # A changed store spec rolls the operator pods, whose init container applies it.
    assert sts["spec"]["template"]["metadata"]["annotations"]["checksum/objects"] != checksum
    run_init_container(helm, cluster, tmp_path)
    assert (
        cluster.get(mode.team, "vectorstore", "default")["spec"]["qdrant"]["url"]
        == "http://qdrant.qdrant:6333"
    )
    assert mode.peering(cluster)["metadata"]["uid"] == uid  # applied again, not re-created
    # Upgrading again with the same values changes nothing and fails nothing.
    helm_in(
        helm, cluster, "upgrade", RELEASE, str(CHART), "-n", RELEASE_NS, "-f", str(values), "--reuse-values"
    )


@pytest.fixture(scope="module")
def qdrant(mode: Mode) -> Iterator[StandInQdrant]:
    """A fresh stand-in per mode (the first mode's collections are owned by its namespace)."""
    server = StandInQdrant(port=free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=PROVIDER_KEY, dimension=16, models=("e5",)) as p:
        yield p


def doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def apply(cluster: Cluster, ns: str, *docs: dict[str, Any]) -> None:
    proc = cluster.apply(ns, *docs, check=False)
    assert proc.returncode == 0, proc.stderr


def assert_not_denied(log: str, who: str) -> None:
    denied = [line for line in log.splitlines() if DENIED.search(line)]
    assert not denied, f"{who} was denied something:\n" + "\n".join(denied[:20])


def test_operator_reconciles_every_kind_with_exactly_the_charts_rbac(
    cluster: Cluster, tmp_path: Path, qdrant: StandInQdrant, provider: FakeProvider, mode: Mode
) -> None:
    kubeconfig = token_kubeconfig(cluster, f"{RELEASE}-vectorops-operator", tmp_path / "operator.kubeconfig")
    denied = cluster.kubectl("--kubeconfig", str(kubeconfig), "get", "secrets", "-A", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr  # really not an admin
    op = OperatorProcess(
        cluster.cp,
        tmp_path / "operator.log",
        KUBECONFIG=str(kubeconfig),
        VECTOROPS_PEERING=PEERING,
        VECTOROPS_PRIORITY="0",
        VECTOROPS_EMBEDDER_PROBE="direct",  # as in a pod (the chart sets it): no services/proxy
        VECTOROPS_DEFAULT_STORE="default",
        # As the chart's StatefulSet sets it in namespaced mode.
        **({"VECTOROPS_NAMESPACES": json.dumps([mode.team])} if mode.name == "namespaced" else {}),
    )
    op.start()
    try:
        ns = mode.team
        apply(
            cluster,
            ns,
            secret("provider", token=PROVIDER_KEY),
            doc("VectorStore", "q", {"qdrant": {"url": qdrant.url}}),
            doc(
                "VectorCollection",
                "docs",
                {
                    "storeRef": {"name": "q"},
                    "vectors": {"size": 4, "distance": "Cosine"},
                    "alerts": {"enabled": True},
                },
            ),
            doc(
                "EmbeddingModel",
                "bge",
                {
                    "storeRef": {"name": "q"},
                    "source": {"huggingFace": {"repo": "BAAI/bge-small-en-v1.5"}},
                    "cache": {"enabled": False},
                    "autoscaling": {"minReplicas": 1, "maxReplicas": 3, "targetQueueDepth": 64},
                    "resources": {"requests": {"cpu": "1"}},
                    "monitoring": {"scrapeInterval": "15s"},
                },
            ),
            doc(
                "ExternalModelEndpoint",
                "hosted",
                {
                    "url": provider.base_url,
                    "models": [{"name": "e5", "dimensions": 16, "identity": "fake/e5"}],
                    "auth": {"type": "bearer", "secretRef": {"name": "provider", "key": "token"}},
                    "healthProbe": {"intervalSeconds": 5, "failureThreshold": 2},
                },
            ),
        )
        cluster.wait_for(ns, "vectorstore", "q", ready_is("True"))
        cluster.wait_for(ns, "vectorcollection", "docs", ready_is("True", "Synced"))
        cluster.wait_for(ns, "externalmodelendpoint", "hosted", ready_is("True", "Routed"))
        obj = cluster.wait_for(ns, "embeddingmodel", "bge", ready_is("False", "RollingOut"))
        assert (condition(obj, "Monitoring") or {}).get("reason") == "Synced"
        # Argo CD's view of what the real operator wrote (charts/vectorops/argocd/health.lua).
        assert health(obj)[0] == "Progressing"
        roll_out(cluster, ns, "bge-embedder")
        cluster.wait_for(ns, "embeddingmodel", "bge", ready_is("True", "Available"))
        for kind in ("horizontalpodautoscaler.autoscaling", "podmonitor.monitoring.coreos.com", "service"):
            cluster.get(ns, kind, "bge-embedder")
        cluster.get(ns, "configmap", "vectorops-routes")
        for kind, name in (
            ("vectorstore", "q"),
            ("vectorcollection", "docs"),
            ("embeddingmodel", "bge"),
            ("externalmodelendpoint", "hosted"),
        ):
            assert health(cluster.get(ns, kind, name))[0] == "Healthy", (kind, name)
        # Pruning (delete) and drift repair (get) with the same permissions.
        quiet = doc(
            "EmbeddingModel",
            "bge",
            {
                "storeRef": {"name": "q"},
                "source": {"huggingFace": {"repo": "BAAI/bge-small-en-v1.5"}},
                "cache": {"enabled": False},
                "replicas": 1,
                "monitoring": {"podMonitor": False, "alerts": {"enabled": False}},
            },
        )
        apply(cluster, ns, quiet)
        cluster.wait_for(
            ns,
            "embeddingmodel",
            "bge",
            lambda o: (condition(o, "Monitoring") or {}).get("reason") == "Disabled",
        )
        eventually(
            lambda: cluster.kubectl("get", "-n", ns, "hpa", "bge-embedder", check=False).returncode != 0,
            what="the HPA pruned",
        )
        cluster.kubectl("delete", "-n", ns, "service", "bge-embedder")
        eventually(
            lambda: cluster.kubectl("get", "-n", ns, "service", "bge-embedder", check=False).returncode == 0,
            what="the deleted Service restored",
        )
        # Deletion with the finalizer.
        cluster.kubectl("delete", "-n", ns, "vectorcollection", "docs", "--timeout=30s")
        # The gateway, with its own ServiceAccount's token: reads the route table and keys, reports status.
        gw_kubeconfig = token_kubeconfig(
            cluster, f"{RELEASE}-vectorops-gateway", tmp_path / "gateway.kubeconfig"
        )
        key = secret("client", key=CLIENT_KEY)  # only the key is secret: the leak checks look for it
        key["stringData"] |= {"role": "user", "models": "*"}  # (not for "user" or "*", which are everywhere)
        key["metadata"]["labels"] = {"vectorops.io/gateway-key": "true"}
        apply(cluster, ns, key)
        with gateway_process(gw_kubeconfig, ns, tmp_path / "gateway.log", REPLICA="gw-0") as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=CLIENT_KEY, max_retries=0)

            def served() -> bool:
                try:
                    return len(client.embeddings.create(model="e5", input="hi").data[0].embedding) == 16
                except openai.APIError:
                    return False

            eventually(served, what="the gateway serving e5")
            eventually(
                lambda: (
                    "gw-0"
                    in (cluster.get(ns, "externalmodelendpoint", "hosted")["status"].get("gateways") or {})
                ),
                what="the gateway's breaker report in the endpoint status",
            )
        assert_not_denied((tmp_path / "gateway.log").read_text(), "the gateway")
    finally:
        code = op.stop()
    log = (tmp_path / "operator.log").read_text()
    assert_not_denied(log, "the operator")
    assert code == 0, log[-3000:]


def test_uninstall_leaves_nothing_but_the_crds_and_the_resources(
    helm: str, cluster: Cluster, mode: Mode
) -> None:
    helm_in(helm, cluster, "uninstall", RELEASE, "-n", RELEASE_NS, "--timeout", "60s")
    assert helm_in(helm, cluster, "list", "-A", "-q").stdout.strip() == ""
    for kind, ns in (
        ("statefulset,deployment,service,serviceaccount,role,rolebinding,servicemonitor", RELEASE_NS),
        ("role,rolebinding", mode.team),
        ("clusterrole,clusterrolebinding", None),
    ):
        where = ["-n", ns] if ns else []
        left = cluster.kubectl(
            "get", kind, *where, "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name"
        ).stdout
        assert left.strip() == "", f"left behind: {left}"
    crds = cluster.kubectl("get", "crd", "-o", "name").stdout
    for name in ("vectorstores.vectorops.io", "embeddingmodels.vectorops.io", "clusterkopfpeerings.kopf.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{name}" in crds
    # The user's resources, the default store and the peering object (created by the operator pods, not
    # by Helm) survive, and nothing is stuck terminating.
    assert mode.peering(cluster)["metadata"].get("deletionTimestamp") is None
    for ns, kind, name in (
        (mode.team, "vectorstore", "q"),
        (mode.team, "embeddingmodel", "bge"),
        (mode.team, "vectorstore", "default"),
    ):
        obj = cluster.get(ns, kind, name)
        assert "deletionTimestamp" not in obj["metadata"], (kind, name)
