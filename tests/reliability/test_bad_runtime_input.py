"""Manifests the apiserver accepts but that cannot work: each ends in a Ready=False condition whose reason
names the problem and whose message says what to fix, never in a crash or a hot loop (an object's status
is not rewritten while nothing changes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster, condition, secret
from tests.integration.test_endpoints import endpoint
from tests.reliability.manifests import collection, items, model, operator_for, store
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.kubelet import DevKubelet
from vectorops.devtools.qdrant_standin import StandInQdrant

RESYNC_S = 2


def _store_with_key(name: str, url: str, secret_name: str, key: str) -> dict[str, Any]:
    doc = store(name, url)
    doc["spec"]["qdrant"]["apiKeySecretRef"] = {"name": secret_name, "key": key}
    return doc


def _cases(qdrant_url: str) -> list[tuple[str, str, dict[str, Any], str, str]]:
    """(kind, name, manifest, expected reason, a phrase the message must hold)."""
    dead = f"http://127.0.0.1:{free_port()}"
    with_store = collection("lost-store")
    with_store["spec"]["storeRef"] = {"name": "no-such-store"}
    with_model = collection("lost-model")
    with_model["spec"] |= {"embeddingModelRef": {"name": "no-such-model"}}
    no_key = endpoint(
        "no-key", dead, auth={"type": "bearer", "secretRef": {"name": "absent", "key": "token"}}
    )
    return [
        ("vectorstore", "no-secret", _store_with_key("no-secret", qdrant_url, "absent", "k"), "SecretNotFound",
         "absent"),
        ("vectorstore", "wrong-key", _store_with_key("wrong-key", qdrant_url, "present", "nope"),
         "SecretKeyNotFound", "nope"),
        ("vectorstore", "unreachable", store("unreachable", dead), "BackendUnreachable", dead),
        ("vectorcollection", "lost-store", with_store, "StoreNotFound", "no-such-store"),
        ("vectorcollection", "lost-model", with_model, "EmbeddingModelNotFound", "no-such-model"),
        ("externalmodelendpoint", "no-key", no_key, "SecretNotFound", "absent"),
    ]  # fmt: skip


def test_unworkable_specs_end_in_actionable_conditions_without_hot_loops(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    cases = _cases(qdrant.url)
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    try:
        cluster.apply(
            ns, secret("present", other="not-the-key-7c2e"), store("q", qdrant.url), *[c[2] for c in cases]
        )
        for kind, name, _, reason, phrase in cases:
            obj = cluster.wait_for(
                ns, kind, name, lambda o, r=reason: (condition(o) or {}).get("reason") == r, timeout=60
            )
            ready = condition(obj)
            assert ready is not None and ready["status"] == "False"
            assert phrase in ready["message"], (name, ready["message"])
        # No hot loop: over several resync intervals, a failing object's status is not rewritten (its
        # condition, and so its lastTransitionTime, stays as it is) and the operator stays up.
        versions = {
            (kind, name): cluster.get(ns, kind, name)["metadata"]["resourceVersion"]
            for kind, name, *_ in cases
            if kind != "externalmodelendpoint"  # probes write their time on each probe, by design
        }
        events = len(items(cluster, ns, "events"))
        time.sleep(4 * RESYNC_S)
        for (kind, name), version in versions.items():
            assert cluster.get(ns, kind, name)["metadata"]["resourceVersion"] == version, (kind, name)
        assert len(items(cluster, ns, "events")) == events, "Events were posted while nothing changed"
        assert op.proc is not None and op.proc.poll() is None
    finally:
        assert op.stop() == 0


def test_a_model_path_that_does_not_exist_ends_in_the_embedders_own_words(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    """The embedder exits saying the directory is missing; the kubelet (the DevKubelet here, which runs
    the Deployment's container as a process) keeps that as the termination message; the operator reads
    the stuck pod and puts it in Ready, and the crash loop's restarts do not rewrite the status."""
    ns = namespace
    lost = model("lost-weights")
    lost["spec"]["source"] = {"path": "/models/does-not-exist"}
    # The kubelet's back-off, shortened (1 s, doubling): the loop goes round a few times in seconds.
    kubelet = DevKubelet(
        control_plane, ns, tmp_path / "pods", tmp_path / "hosts", backoff_start_s=1.0
    ).start()
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    workload = "lost-weights-embedder"

    def restarts() -> int:
        w = kubelet.workloads.get(workload)
        return w.restarts if w is not None else 0

    def wait_restarts(at_least: int) -> None:
        deadline = time.monotonic() + 120
        while restarts() < at_least:
            assert time.monotonic() < deadline, f"the container was restarted {restarts()} times only"
            time.sleep(0.5)

    try:
        cluster.apply(ns, lost)
        wait_restarts(2)  # from now on it is a crash loop however the kubelet shows it
        failing = lambda o: (condition(o) or {}).get("reason") == "EmbedderFailing"  # noqa: E731
        obj = cluster.wait_for(ns, "embeddingmodel", "lost-weights", failing, timeout=60)
        ready = condition(obj)
        assert ready is not None and ready["status"] == "False"
        message = ready["message"]
        assert "container embedder is crash-looping" in message, message
        assert "exited with code 1" in message, message
        assert "the model directory /models/does-not-exist does not exist in the container" in message, (
            message
        )
        cluster.wait_event(ns, "lost-weights", "EmbedderFailing", timeout=30)
        # The container keeps failing and restarting; the status says the same each time.
        version = cluster.get(ns, "embeddingmodel", "lost-weights")["metadata"]["resourceVersion"]
        wait_restarts(restarts() + 1)
        time.sleep(2 * RESYNC_S)
        after = cluster.get(ns, "embeddingmodel", "lost-weights")
        assert after["metadata"]["resourceVersion"] == version, condition(after)
    finally:
        assert op.stop() == 0
        kubelet.stop()
