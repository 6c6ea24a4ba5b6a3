"""Backends down for a while. A Qdrant: its collections say which store and why, collections of another
store keep reconciling (a new one is created during the outage). A Redis: the store's `Redis` condition
says so while Ready stays True (the caches are bypassed) and collections carry on. In both, the operator
makes no API write at all while nothing changes (counted by the apiserver itself: no hot loop), and
everything recovers by itself when the backend returns.

PostgreSQL outages: tests/integration/test_postgres_schemas.py (with the same write count); a provider
down: tests/integration/test_endpoints.py; Redis at the gateway and embedders: their own suites."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import RedisServer
from tests.integration.conftest import Cluster, condition, secret
from tests.reliability.manifests import collection, items, operator_for, settled, store
from vectorops.devtools.controlplane import ControlPlane, free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

RESYNC_S = 2


def _on(store_name: str, name: str) -> dict[str, object]:
    doc = collection(name)
    doc["spec"]["storeRef"] = {"name": store_name}
    return doc


def test_a_qdrant_outage_is_named_contained_and_recovered(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    ns = namespace
    down, up = StandInQdrant(port=free_port()).start(), StandInQdrant(port=free_port()).start()
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    try:
        cluster.apply(ns, store("down", down.url), store("up", up.url))
        cluster.apply(ns, *[_on("down", f"d{i}") for i in range(3)], *[_on("up", f"u{i}") for i in range(3)])
        for name in ("d0", "d1", "d2", "u0", "u1", "u2"):
            cluster.wait_for(ns, "vectorcollection", name, settled, timeout=60)

        down.stop()
        for name in ("d0", "d1", "d2"):
            obj = cluster.wait_for(
                ns,
                "vectorcollection",
                name,
                lambda o: (condition(o) or {}).get("status") == "False",
                timeout=30,
            )
            ready = condition(obj)
            assert ready is not None and ready["reason"] == "BackendUnreachable", ready
            assert down.url in ready["message"], ready["message"]
        store_ready = cluster.wait_for(
            ns, "vectorstore", "down", lambda o: (condition(o) or {}).get("status") == "False", timeout=30
        )
        assert (condition(store_ready) or {}).get("reason") == "BackendUnreachable"
        # The other store's collections are unaffected, and new work there goes on.
        cluster.apply(ns, _on("up", "u3"))
        cluster.wait_for(ns, "vectorcollection", "u3", settled, timeout=30)
        assert all(settled(cluster.get(ns, "vectorcollection", f"u{i}")) for i in range(3))
        # No hot loop: once the outage is reported, resyncs find the same and write nothing.
        versions = {
            n: cluster.get(ns, "vectorcollection", n)["metadata"]["resourceVersion"] for n in ("d0", "d1")
        }
        events = len(items(cluster, ns, "events"))
        assert cluster.writes_during(4 * RESYNC_S) == {}
        for name, version in versions.items():
            assert cluster.get(ns, "vectorcollection", name)["metadata"]["resourceVersion"] == version, name
        assert len(items(cluster, ns, "events")) == events

        down.start()  # same port, same state
        for name in ("d0", "d1", "d2"):
            cluster.wait_for(ns, "vectorcollection", name, settled, timeout=30)
        cluster.wait_for(ns, "vectorstore", "down", settled, timeout=30)
    finally:
        assert op.stop() == 0
        up.stop()
        down.stop()


def redis_is(reason: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: (condition(o, "Redis") or {}).get("reason") == reason


def test_a_redis_outage_is_named_contained_and_recovered(
    control_plane: ControlPlane, cluster: Cluster, namespace: str, tmp_path: Path, qdrant: StandInQdrant
) -> None:
    ns = namespace
    redis = RedisServer(tmp_path, password="redis-outage-9b1f47")
    redis.start()
    op = operator_for(control_plane, ns, tmp_path, RESYNC_S)
    try:
        with_redis = store("q", qdrant.url)
        with_redis["spec"]["redis"] = {"urlSecretRef": {"name": "cache", "key": "url"}}
        cluster.apply(ns, secret("cache", url=redis.url), with_redis, collection("c0"))
        cluster.wait_for(ns, "vectorcollection", "c0", settled, timeout=60)
        st = cluster.wait_for(ns, "vectorstore", "q", redis_is("Connected"))
        assert st["status"]["redis"]["reachable"] is True and st["status"]["redis"]["serverVersion"]
        where = f"redis://127.0.0.1:{redis.port}/0"

        redis.stop()
        st = cluster.wait_for(ns, "vectorstore", "q", redis_is("RedisUnreachable"), timeout=30)
        assert where in condition(st, "Redis")["message"]
        assert st["status"]["redis"]["reachable"] is False
        ready = condition(st)
        assert ready is not None and ready["status"] == "True", ready  # a cache: degraded, not broken
        assert "cache is bypassed" in ready["message"] and where in ready["message"]
        # Collections do not depend on Redis: a new one is made during the outage.
        cluster.apply(ns, collection("c1"))
        cluster.wait_for(ns, "vectorcollection", "c1", settled, timeout=30)
        version = cluster.get(ns, "vectorstore", "q")["metadata"]["resourceVersion"]
        assert cluster.writes_during(4 * RESYNC_S) == {}
        assert cluster.get(ns, "vectorstore", "q")["metadata"]["resourceVersion"] == version

        redis.start()  # same port
        st = cluster.wait_for(ns, "vectorstore", "q", redis_is("Connected"), timeout=30)
        assert st["status"]["redis"]["reachable"] is True and "bypassed" not in condition(st)["message"]
    finally:
        assert op.stop() == 0
        redis.stop()
