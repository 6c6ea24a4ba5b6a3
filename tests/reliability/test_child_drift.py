"""Drift of every child kind: each deleted by hand comes back within one resync interval, with one
Warning Event (DriftRepaired) naming what was put back."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.conftest import Cluster, condition, secret
from tests.integration.test_endpoints import endpoint
from tests.reliability.manifests import collection, model, operator_for, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.routing.table import ROUTES_CONFIGMAP

RESYNC_S = 2
KEY = "sk-drift-9c1f"


def _drift_events(cluster: Cluster, ns: str, owner: str) -> list[str]:
    return [e["message"] for e in cluster.events(ns, owner) if e["reason"] == "DriftRepaired"]


def _exists(cluster: Cluster, ns: str, kind: str, name: str) -> bool:
    return cluster.kubectl("get", "-n", ns, kind, name, check=False).returncode == 0


def test_every_child_deleted_by_hand_is_restored_with_an_event_naming_it(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    with FakeProvider(api_key=KEY, dimension=16, models=("e5",)) as provider:
        try:
            em = model("minilm")
            del em["spec"]["replicas"]
            em["spec"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 3}
            em["spec"]["resources"] = {"requests": {"cpu": "1"}}
            docs = collection("docs", alerts={"enabled": True})
            cluster.apply(ns, secret("provider", token=KEY), endpoint("hosted", provider.base_url), em)
            cluster.apply(ns, store("q", qdrant.url), docs)
            cluster.wait_for(
                ns,
                "externalmodelendpoint",
                "hosted",
                lambda o: (condition(o) or {}).get("reason") == "Routed",
            )
            cluster.wait_for(
                ns,
                "embeddingmodel",
                "minilm",
                lambda o: (condition(o, "Alerts") or {}).get("status") == "True",
            )
            children = [
                ("embeddingmodel", "minilm", "deployment", "minilm-embedder", "Deployment minilm-embedder"),
                ("embeddingmodel", "minilm", "service", "minilm-embedder", "Service minilm-embedder"),
                ("embeddingmodel", "minilm", "hpa", "minilm-embedder", "HorizontalPodAutoscaler minilm-embedder"),
                ("embeddingmodel", "minilm", "podmonitor", "minilm-embedder", "PodMonitor minilm-embedder"),
                ("embeddingmodel", "minilm", "prometheusrule", "minilm-embedder", "PrometheusRule minilm-embedder"),
                ("externalmodelendpoint", "hosted", "prometheusrule", "vectorops-endpoint-hosted",
                 "PrometheusRule vectorops-endpoint-hosted"),
                ("externalmodelendpoint", "hosted", "configmap", ROUTES_CONFIGMAP, f"ConfigMap {ROUTES_CONFIGMAP}"),
                ("vectorcollection", "docs", "prometheusrule", "vectorops-collection-docs",
                 "PrometheusRule vectorops-collection-docs"),
                ("vectorcollection", "docs", "configmap", "vectorops-binding-docs", "ConfigMap vectorops-binding-docs"),
            ]  # fmt: skip
            time.sleep(2 * RESYNC_S)  # every child applied at least once more: the operator knows its state
            for _, _, kind, name, _ in children:
                assert _exists(cluster, ns, kind, name), (kind, name)
            for _, owner, kind, name, named in children:
                cluster.kubectl("delete", "-n", ns, kind, name)
                deadline = time.monotonic() + 4 * RESYNC_S + 10
                while not _exists(cluster, ns, kind, name) and time.monotonic() < deadline:
                    time.sleep(0.3)
                assert _exists(cluster, ns, kind, name), f"{kind}/{name} was not restored"
                cluster.wait_event(ns, owner, "DriftRepaired", named, timeout=15)
                time.sleep(2 * RESYNC_S)  # later resyncs find nothing more to repair, and say nothing
                told = [m for m in _drift_events(cluster, ns, owner) if named in m]
                assert len(told) == 1, told
        finally:
            assert op.stop() == 0
