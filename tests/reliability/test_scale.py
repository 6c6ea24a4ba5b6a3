"""The scale benchmark's correctness at a bounded size (benchmarks/operator_scale.py measures 2,000): 300
VectorCollections applied at once all become Ready, each has its Qdrant collection, and an operator
restarted with them re-verifies every one (its reconcile counter) without a single 429 from the
apiserver. Timings are the benchmark's business, not asserted here."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import yaml

from tests.integration.conftest import Cluster, OperatorProcess, standin_only
from tests.reliability.manifests import collection, items, settled, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.qdrant_standin import StandInQdrant

N = 300


def _reconciled(op: OperatorProcess) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return 0.0
    found = re.findall(
        r'^vectorops_operator_reconcile_total\{[^}]*kind="VectorCollection"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(v) for v in found)


def _throttled(cluster: Cluster) -> float:
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("apiserver_request_total{") and 'code="429"' in line
    )


def test_three_hundred_collections_become_ready_and_are_reverified_after_a_restart(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    env = {
        "VECTOROPS_NAMESPACES": f'["{ns}"]',
        "VECTOROPS_RESYNC_SECONDS": "600",
        "VECTOROPS_LOG_LEVEL": "INFO",
    }
    op = OperatorProcess(control_plane, tmp_path / "operator.log", **env)
    op.start()
    try:
        cluster.apply(ns, store("q", qdrant.url))
        docs = [collection(f"s{i:03d}", size=8 + i % 4) for i in range(N)]
        cluster.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(docs))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = items(cluster, ns, "vectorcollections")
            if len(found) == N and all(settled(o) for o in found):
                break
            time.sleep(2)
        assert len(found) == N and all(settled(o) for o in found), sum(settled(o) for o in found)
        assert {f"s{i:03d}" for i in range(N)} <= set(standin_only(qdrant).state.collections)
    finally:
        assert op.stop() == 0
    throttled = _throttled(cluster)
    op = OperatorProcess(control_plane, tmp_path / "restarted.log", **env)
    op.start()
    try:
        deadline = time.monotonic() + 300
        while _reconciled(op) < N and time.monotonic() < deadline:
            time.sleep(1)
        assert _reconciled(op) >= N, "not every object was re-verified after the restart"
        assert _throttled(cluster) == throttled, "the apiserver answered 429 during the re-verification"
        assert all(settled(o) for o in items(cluster, ns, "vectorcollections"))
    finally:
        assert op.stop() == 0
