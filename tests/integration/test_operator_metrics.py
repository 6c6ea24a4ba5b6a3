"""The operator process serves its metrics on their own port: passes, objects by Ready reason (a deleted
object leaves), Qdrant call latency, the pass gate."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Cluster, OperatorProcess, RealQdrant, ready_is
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

API = "vectorops.io/v1alpha1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(op: OperatorProcess) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as r:
        assert r.status == 200
        text = r.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def eventually(op: OperatorProcess, check: Callable[[Samples], bool], timeout: float = 20) -> Samples:
    deadline = time.monotonic() + timeout
    samples = scrape(op)
    while not check(samples):
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never matched: {samples}")
        time.sleep(0.3)
        samples = scrape(op)
    return samples


def test_metrics_of_vectorstores(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    qdrant: StandInQdrant | RealQdrant,
    tmp_path: Path,
) -> None:
    # Its own operator, watching only this namespace: the counts are this test's alone. A long resync, so
    # that only the watch's DELETED event can take an object out of the gauge within the test.
    op = OperatorProcess(
        control_plane,
        tmp_path / "operator.log",
        VECTOROPS_NAMESPACES=json.dumps([namespace]),
        VECTOROPS_RESYNC_SECONDS="120",
    )
    op.start()
    try:
        stores = [("up", qdrant.url), ("down", f"http://127.0.0.1:{free_port()}")]
        cluster.apply(
            namespace,
            *(
                {
                    "apiVersion": API,
                    "kind": "VectorStore",
                    "metadata": {"name": n},
                    "spec": {"qdrant": {"url": u}},
                }
                for n, u in stores
            ),
        )
        cluster.wait_for(namespace, "vectorstore", "up", ready_is("True", "Connected"))
        cluster.wait_for(namespace, "vectorstore", "down", ready_is("False", "BackendUnreachable"))

        kind = {"kind": "VectorStore"}
        objects = "vectorops_operator_objects"
        samples = eventually(
            op,
            lambda s: (
                get(s, objects, **kind, ready="False", reason="BackendUnreachable") == 1
                and get(s, objects, **kind, ready="True", reason="Connected") == 1
            ),
        )
        total = "vectorops_operator_reconcile_total"
        assert get(samples, total, **kind, outcome="Connected") >= 1
        assert get(samples, total, **kind, outcome="BackendUnreachable") >= 1
        errors = "vectorops_operator_reconcile_errors_total"
        assert get(samples, errors, **kind, reason="BackendUnreachable") >= 1
        assert get(samples, errors, **kind, reason="Connected") == 0
        assert get(samples, "vectorops_operator_reconcile_duration_seconds_count", **kind) >= 2
        assert (
            get(
                samples,
                "vectorops_operator_backend_seconds_count",
                backend="qdrant",
                operation="get_collections",
            )
            >= 2
        )  # both stores were probed through qdrant-client
        assert get(samples, "vectorops_operator_max_concurrent_passes") == 16
        assert ("vectorops_operator_passes_in_flight", frozenset()) in samples
        assert ("vectorops_operator_passes_waiting", frozenset()) in samples

        cluster.kubectl("delete", "-n", namespace, "vectorstore", "down")
        samples = eventually(
            op, lambda s: get(s, objects, **kind, ready="False", reason="BackendUnreachable") == 0
        )
        assert get(samples, objects, **kind, ready="True", reason="Connected") == 1
    finally:
        assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]
