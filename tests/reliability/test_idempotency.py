"""Re-applying identical manifests (client-side three times, then server-side three times) writes nothing:
no child, no status and no Event changes. What GitOps tools do on every sync must cost nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from tests.integration.conftest import Cluster
from tests.reliability.manifests import collection, items, model, operator_for, settled, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.qdrant_standin import StandInQdrant

CHILD_KINDS = ("deployments", "services", "configmaps", "prometheusrules", "podmonitors")
RESYNC_S = 2


def _versions(cluster: Cluster, ns: str) -> dict[str, str]:
    found = {}
    for kind in ("vectorstores", "vectorcollections", "embeddingmodels", *CHILD_KINDS):
        for obj in items(cluster, ns, kind):
            found[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
    return found


def _apply(cluster: Cluster, ns: str, docs: list[dict[str, Any]], server_side: bool) -> None:
    args = ["apply", "-n", ns, "-f", "-"] + (
        ["--server-side", "--field-manager=gitops"] if server_side else []
    )
    cluster.kubectl(*args, input=yaml.safe_dump_all(docs))


def test_reapplying_the_same_manifests_changes_nothing(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    docs = [
        store("q", qdrant.url),
        *[collection(f"c{i}", alerts={"enabled": True}) for i in range(3)],
        model("m"),
    ]
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    try:
        _apply(cluster, ns, docs, server_side=False)
        for i in range(3):
            cluster.wait_for(ns, "vectorcollection", f"c{i}", settled, timeout=60)
        # No kubelet runs here: the model settles at RollingOut, which is its steady state.
        cluster.wait_for(ns, "embeddingmodel", "m", lambda o: settled(o, ("False",)), timeout=60)
        time.sleep(3 * RESYNC_S)  # let every timer pass once more after the objects settled
        before, events = _versions(cluster, ns), len(items(cluster, ns, "events"))
        for server_side in (False, False, False, True, True, True):
            _apply(cluster, ns, docs, server_side)
        time.sleep(3 * RESYNC_S)  # the operator has seen the re-applies and resynced since
        after = _versions(cluster, ns)
        changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
        # The first server-side apply takes over field ownership from kubectl's client-side apply: that
        # is a write the apiserver makes to our objects' managedFields, not one the operator makes. So
        # only the children, whose writes are the operator's, must be untouched by every apply.
        children = {k: v for k, v in changed.items() if k.split("/")[0] in CHILD_KINDS}
        assert not children, f"re-applying identical manifests rewrote children: {children}"
        assert len(items(cluster, ns, "events")) == events, "re-applying identical manifests posted Events"
        statuses = {
            f"{kind}/{o['metadata']['name']}": o.get("status")
            for kind in ("vectorcollections", "embeddingmodels")
            for o in items(cluster, ns, kind)
        }
        time.sleep(2 * RESYNC_S)
        again = {
            f"{kind}/{o['metadata']['name']}": o.get("status")
            for kind in ("vectorcollections", "embeddingmodels")
            for o in items(cluster, ns, kind)
        }
        assert again == statuses, "a resync of settled objects changed their status"
    finally:
        assert op.stop() == 0
