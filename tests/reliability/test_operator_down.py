"""Objects deleted while the operator is down wait in Terminating behind our finalizer; when it returns,
each deletionPolicy is honoured (Delete drops the Qdrant collection, Retain keeps it)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from qdrant_client import QdrantClient

from tests.integration.conftest import Cluster, OperatorProcess
from tests.reliability.manifests import collection, items, settled, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.kopfsettings import FINALIZER


def test_deletions_while_the_operator_is_down_are_honoured_when_it_returns(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    names = {f"del-{ns}-{i}": "Delete" for i in range(4)} | {f"keep-{ns}-{i}": "Retain" for i in range(4)}
    log = tmp_path / "operator.log"
    op = OperatorProcess(control_plane, log, VECTOROPS_NAMESPACES=f'["{ns}"]')
    op.start()
    cluster.apply(ns, store("q", qdrant.url), *[collection(n, policy=p) for n, p in names.items()])
    for name in names:
        cluster.wait_for(ns, "vectorcollection", name, settled, timeout=60)
    assert op.proc is not None
    op.proc.send_signal(signal.SIGKILL)  # down without a goodbye, as a node failure takes it
    op.proc.wait()

    cluster.kubectl("delete", "-n", ns, "vectorcollection", *names, "--wait=false")
    time.sleep(2)
    waiting = items(cluster, ns, "vectorcollections")
    assert {o["metadata"]["name"] for o in waiting} == set(names), "deleted without the operator"
    for obj in waiting:
        assert obj["metadata"].get("deletionTimestamp"), obj["metadata"]
        assert FINALIZER in obj["metadata"]["finalizers"]
    client = QdrantClient(url=qdrant.url)
    assert set(names) <= {c.name for c in client.get_collections().collections}

    op.start()
    try:
        deadline = time.monotonic() + 60
        while items(cluster, ns, "vectorcollections") and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not items(cluster, ns, "vectorcollections"), "objects stayed Terminating"
        left = {c.name for c in client.get_collections().collections}
        for name, policy in names.items():
            assert (name in left) == (policy == "Retain"), (name, policy)
    finally:
        assert op.stop() == 0
