"""Two operator replicas with kopf peering: only the higher-priority one acts; when it is killed, the other
takes over within the peering lifetime, and no object is ever reconciled by both at once."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from tests.integration.conftest import Cluster, OperatorProcess
from tests.reliability.manifests import collection, settled, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.qdrant_standin import StandInQdrant

LIFETIME_S = 8
PEERING = "vectorops"


def _acted_on(log: Path, names: set[str]) -> set[str]:
    """Collections whose status this replica wrote (its DEBUG log shows every status patch)."""
    text = log.read_text(errors="replace")
    return {
        n for n in names if re.search(rf"Merge-patching the status with: .*'collectionName': '{n}'", text)
    }


def test_one_replica_acts_and_the_other_takes_over_when_it_dies(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    cluster.kubectl(
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}}),
    )
    common = {
        "VECTOROPS_NAMESPACES": f'["{ns}"]',
        "VECTOROPS_PEERING": PEERING,
        "VECTOROPS_PEERING_LIFETIME_SECONDS": str(LIFETIME_S),
    }
    leader = OperatorProcess(control_plane, tmp_path / "leader.log", VECTOROPS_PRIORITY="20", **common)
    standby = OperatorProcess(control_plane, tmp_path / "standby.log", VECTOROPS_PRIORITY="10", **common)
    leader.start()
    standby.start()
    try:
        time.sleep(3)  # both have announced themselves in the peering object
        first = {f"a{i}" for i in range(5)}
        cluster.apply(ns, store("q", qdrant.url), *[collection(n) for n in sorted(first)])
        for name in first:
            cluster.wait_for(ns, "vectorcollection", name, settled, timeout=60)
        assert _acted_on(leader.log, first) == first
        assert not _acted_on(standby.log, first), "the standby acted while the leader was alive"
        assert "Pausing the watch-stream for vectorcollections" in standby.log.read_text()

        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        killed = time.monotonic()
        second = {f"b{i}" for i in range(5)}
        cluster.apply(ns, *[collection(n) for n in sorted(second)])
        for name in second:
            cluster.wait_for(ns, "vectorcollection", name, settled, timeout=LIFETIME_S + 60)
        handover = time.monotonic() - killed
        assert handover < LIFETIME_S + 30, f"took {handover:.0f}s to take over"
        assert _acted_on(standby.log, second) == second
        assert not _acted_on(leader.log, second)
    finally:
        standby.stop()
        if leader.proc is not None and leader.proc.poll() is None:
            leader.stop()
