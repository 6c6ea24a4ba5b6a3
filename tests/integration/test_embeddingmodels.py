"""EmbeddingModel -> Deployment + Service on the real apiserver (no kubelet: the test plays the rollout)."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is

API = "vectorops.io/v1alpha1"


def model(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "EmbeddingModel",
        "metadata": {"name": name},
        "spec": {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}, **spec},
    }


def roll_out(cluster: Cluster, ns: str, name: str) -> None:
    """Play the Deployment controller and kubelet: report every replica updated, ready and available."""
    deployment = cluster.get(ns, "deployment", name)
    replicas = deployment["spec"].get("replicas", 1)
    status = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    }
    cluster.kubectl(
        "patch",
        "-n",
        ns,
        "deployment",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def test_model_becomes_a_deployment_and_service(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace
    cluster.apply(
        ns,
        model(
            "minilm",
            device="gpu",
            gpu={"count": 2, "type": "NVIDIA-L4"},
            replicas=2,
            cache={"enabled": False},
        ),
    )
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
    cluster.apply(
        ns,
        model(
            "minilm",
            device="gpu",
            gpu={"count": 2, "type": "NVIDIA-L4"},
            replicas=3,
            cache={"enabled": False},
        ),
    )
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


def test_cache_needs_the_stores_redis_secret(
    cluster: Cluster, namespace: str, operator: OperatorProcess, tmp_path
) -> None:
    ns = namespace
    store = {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": "default"},
        "spec": {
            "qdrant": {"url": f"local:{tmp_path}/q"},
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}},
        },
    }
    cluster.apply(ns, store, model("cached"))
    obj = cluster.wait_for(ns, "embeddingmodel", "cached", ready_is("False", "SecretNotFound"))
    assert "redis" in condition(obj)["message"]
    cluster.apply(
        ns,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "redis"},
            "stringData": {"url": "redis://redis:6379/0"},
        },
    )
    cluster.wait_for(ns, "embeddingmodel", "cached", ready_is("False", "RollingOut"))
    env = cluster.get(ns, "deployment", "cached-embedder")["spec"]["template"]["spec"]["containers"][0]["env"]
    redis_env = next(e for e in env if e["name"] == "VECTOROPS_EMBEDDER_REDIS_URL")
    assert redis_env["valueFrom"]["secretKeyRef"] == {"name": "redis", "key": "url"}
