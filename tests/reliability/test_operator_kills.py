"""The operator SIGKILLed at random moments, several times, while 50 VectorCollections and 10
EmbeddingModels are created, updated and deleted. Afterwards every object is settled for its current
generation, Qdrant holds exactly the expected collections (none missing, none orphaned), no deleted object
is left behind a finalizer, and every Deployment and Service has a controlling owner."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster, OperatorProcess
from tests.reliability.manifests import collection, items, model, settled, store
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.qdrant_standin import StandInQdrant

COLLECTIONS, MODELS, KILLS = 50, 10, 4


def _churn(cluster: Cluster, ns: str) -> tuple[set[str], set[str]]:
    """Create everything, update a third, delete a fifth; the names expected to remain."""
    docs: list[dict[str, Any]] = [collection(f"c{i:02d}", size=8) for i in range(COLLECTIONS)]
    docs += [model(f"m{i}") for i in range(MODELS)]
    for start in range(0, len(docs), 10):
        cluster.apply(ns, *docs[start : start + 10])
        time.sleep(0.3)
    for i in range(0, COLLECTIONS, 3):  # an in-place update: HNSW m, a new generation
        cluster.apply(ns, collection(f"c{i:02d}", size=8, hnsw={"m": 24}))
    for i in range(0, MODELS, 3):
        cluster.apply(ns, model(f"m{i}", replicas=2))
    gone_c = {f"c{i:02d}" for i in range(1, COLLECTIONS, 5)}
    gone_m = {f"m{i}" for i in range(1, MODELS, 4)}
    cluster.kubectl("delete", "-n", ns, "vectorcollection", *sorted(gone_c), "--wait=false")
    cluster.kubectl("delete", "-n", ns, "embeddingmodel", *sorted(gone_m), "--wait=false")
    return (
        {f"c{i:02d}" for i in range(COLLECTIONS)} - gone_c,
        {f"m{i}" for i in range(MODELS)} - gone_m,
    )


def test_the_operator_killed_mid_reconcile_converges(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, qdrant: StandInQdrant, tmp_path: Path
) -> None:
    ns = namespace
    rng = random.Random(20261123)
    op = OperatorProcess(control_plane, tmp_path / "operator.log", VECTOROPS_NAMESPACES=f'["{ns}"]')
    cluster.apply(ns, store("q", qdrant.url))
    op.start()
    expected: dict[str, set[str]] = {}
    churn = threading.Thread(
        target=lambda: expected.update(zip(("c", "m"), _churn(cluster, ns), strict=True))
    )
    churn.start()
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.5, 3.0))
        assert op.proc is not None
        op.proc.send_signal(signal.SIGKILL)
        op.proc.wait()
        op.start()
    churn.join()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            cs, ms = items(cluster, ns, "vectorcollections"), items(cluster, ns, "embeddingmodels")
            names_c = {o["metadata"]["name"] for o in cs}
            names_m = {o["metadata"]["name"] for o in ms}
            done = (
                names_c == expected["c"]
                and names_m == expected["m"]
                and all(settled(o) for o in cs)
                # No kubelet here: a model's steady state is Ready=False RollingOut.
                and all(settled(o, ("False",)) for o in ms)
            )
            if done:
                break
            time.sleep(1)
        assert names_c == expected["c"], sorted(names_c ^ expected["c"])
        assert names_m == expected["m"], sorted(names_m ^ expected["m"])
        not_settled = [o["metadata"]["name"] for o in cs if not settled(o)]
        assert not not_settled, not_settled
        assert all(settled(o, ("False",)) for o in ms), [o.get("status") for o in ms]
        in_qdrant = {
            c["name"] for c in qdrant_collections(qdrant) if c["name"].startswith("c") and len(c["name"]) == 3
        }
        assert in_qdrant == expected["c"], sorted(in_qdrant ^ expected["c"])
        for c in cs:
            if c["metadata"]["name"] in {f"c{i:02d}" for i in range(0, COLLECTIONS, 3)}:
                assert c["metadata"]["generation"] >= 2
        for kind in ("deployments", "services"):
            for obj in items(cluster, ns, kind):
                owners = [o for o in obj["metadata"].get("ownerReferences", []) if o.get("controller")]
                assert len(owners) == 1, (kind, obj["metadata"]["name"], owners)
        models = {o["metadata"]["name"] for o in items(cluster, ns, "deployments")}
        assert {f"{m}-embedder" for m in expected["m"]} <= models
    finally:
        assert op.stop() == 0


def qdrant_collections(server: StandInQdrant) -> list[dict[str, Any]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/collections") as answer:
        return list(json.loads(answer.read())["result"]["collections"])
