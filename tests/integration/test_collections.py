"""VectorCollection -> Qdrant through the real qdrant-client over HTTP, against the stand-in server."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from qdrant_client import QdrantClient
from qdrant_client.http import models as m

from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is, secret, standin_only
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

API = "vectorops.io/v1alpha1"


def store(name: str, url: str, **qdrant: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": name},
        "spec": {"qdrant": {"url": url, **qdrant}},
    }


def collection(name: str, store_name: str = "q", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": name},
        "spec": {"storeRef": {"name": store_name}, **spec},
    }


def writes(server: StandInQdrant) -> int:
    return sum(1 for method, _ in server.state.requests if method not in ("GET", "HEAD"))


def shapes(prefix: str) -> list[dict[str, Any]]:
    """20 collections of different shapes."""
    out = []
    for i, distance in enumerate(["Cosine", "Dot", "Euclid", "Manhattan"]):
        out.append(collection(f"{prefix}-plain-{i}", vectors={"size": 4 + i, "distance": distance}))
    for i, q in enumerate(
        [
            {"scalar": {"type": "int8", "quantile": 0.99}},
            {"product": {"compression": "x16"}},
            {"binary": {"alwaysRam": True}},
        ]
    ):
        out.append(collection(f"{prefix}-quant-{i}", vectors={"size": 64}, quantization=q))
    for i in range(3):
        out.append(
            collection(
                f"{prefix}-hnsw-{i}",
                vectors={"size": 8, "onDisk": bool(i % 2)},
                hnsw={"m": 8 * (i + 1), "efConstruct": 64 + i},
            )
        )
    out.append(
        collection(
            f"{prefix}-named",
            namedVectors={"title": {"size": 8}, "body": {"size": 16, "distance": "Dot", "hnsw": {"m": 32}}},
        )
    )
    out.append(
        collection(
            f"{prefix}-hybrid",
            namedVectors={"dense": {"size": 8}},
            sparseVectors={"bm25": {"modifier": "idf"}},
        )
    )
    out.append(
        collection(
            f"{prefix}-sharded",
            vectors={"size": 8},
            shardNumber=3,
            replicationFactor=2,
            writeConsistencyFactor=2,
        )
    )
    out.append(
        collection(
            f"{prefix}-optim",
            vectors={"size": 8},
            optimizers={"indexingThreshold": 0, "defaultSegmentNumber": 4},
        )
    )
    out.append(collection(f"{prefix}-payload", vectors={"size": 8}, onDiskPayload=False))
    for i, t in enumerate(["keyword", "integer", "datetime"]):
        out.append(
            collection(
                f"{prefix}-index-{i}",
                vectors={"size": 8},
                payloadIndexes=[{"field": "f", "type": t, **({"isTenant": True} if t == "keyword" else {})}],
            )
        )
    out.append(
        collection(
            f"{prefix}-aliased", vectors={"size": 8}, aliases=[f"{prefix}-alias-a", f"{prefix}-alias-b"]
        )
    )
    out.append(collection(f"{prefix}-renamed", collectionName=f"{prefix}_custom_name", vectors={"size": 8}))
    assert len(out) == 20
    return out


@pytest.fixture
def client(qdrant: StandInQdrant) -> QdrantClient:
    return QdrantClient(url=qdrant.url, check_compatibility=False)


@pytest.fixture
def ns(cluster: Cluster, namespace: str, qdrant: StandInQdrant, operator: OperatorProcess) -> str:
    cluster.apply(namespace, store("q", qdrant.url))
    cluster.wait_for(namespace, "vectorstore", "q", ready_is("True"))
    return namespace


def test_twenty_shapes_then_reapply_changes_nothing(
    cluster: Cluster, ns: str, qdrant: StandInQdrant, client: QdrantClient
) -> None:
    docs = shapes(ns)
    cluster.apply(ns, *docs)
    for doc in docs:
        cluster.wait_for(ns, "vectorcollection", doc["metadata"]["name"], ready_is("True", "Synced"))
    info = client.get_collection(f"{ns}-hnsw-2")
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct) == (24, 66)
    assert info.config.params.vectors.on_disk is False
    assert client.get_collection(f"{ns}-quant-1").config.quantization_config.product.compression == "x16"
    named = client.get_collection(f"{ns}-named").config.params.vectors
    assert named["body"].distance == m.Distance.DOT and named["body"].hnsw_config.m == 32
    assert (
        client.get_collection(f"{ns}-hybrid").config.params.sparse_vectors["bm25"].modifier == m.Modifier.IDF
    )
    sharded = client.get_collection(f"{ns}-sharded").config.params
    assert (sharded.shard_number, sharded.replication_factor, sharded.write_consistency_factor) == (3, 2, 2)
    assert client.get_collection(f"{ns}-optim").config.optimizer_config.default_segment_number == 4
    assert client.get_collection(f"{ns}-payload").config.params.on_disk_payload is False
    schema = client.get_collection(f"{ns}-index-0").payload_schema["f"]
    assert schema.data_type == m.PayloadSchemaType.KEYWORD and schema.params.is_tenant is True
    assert {a.alias_name for a in client.get_collection_aliases(f"{ns}-aliased").aliases} == {
        f"{ns}-alias-a",
        f"{ns}-alias-b",
    }
    assert client.collection_exists(f"{ns}_custom_name")

    before = {
        d["metadata"]["name"]: cluster.get(ns, "vectorcollection", d["metadata"]["name"])["metadata"][
            "resourceVersion"
        ]
        for d in docs
    }
    events_before = len(cluster.kubectl("get", "events", "-n", ns, "-o", "name").stdout.split())
    writes_before = writes(qdrant) if isinstance(qdrant, StandInQdrant) else 0
    cluster.apply(ns, *docs)  # re-apply: nothing to do
    time.sleep(5)  # two resync intervals and more
    if isinstance(qdrant, StandInQdrant):
        assert writes(qdrant) == writes_before, "re-applying caused Qdrant writes"
    after = {n: cluster.get(ns, "vectorcollection", n)["metadata"]["resourceVersion"] for n in before}
    assert after == before
    assert len(cluster.kubectl("get", "events", "-n", ns, "-o", "name").stdout.split()) == events_before


def test_in_place_changes(cluster: Cluster, ns: str, client: QdrantClient) -> None:
    doc = collection("inplace", vectors={"size": 8}, hnsw={"m": 16})
    cluster.apply(ns, doc)
    cluster.wait_for(ns, "vectorcollection", "inplace", ready_is("True"))
    changed = copy.deepcopy(doc)
    changed["spec"].update(
        hnsw={"m": 48},
        payloadIndexes=[{"field": "lang", "type": "keyword"}],
        aliases=["inplace-live"],
        quantization={"scalar": {"type": "int8"}},
        replicationFactor=2,
    )
    cluster.apply(ns, changed)
    obj = cluster.wait_for(ns, "vectorcollection", "inplace", ready_is("True", "Synced"))
    assert obj["status"]["pendingChanges"] == []
    info = client.get_collection("inplace")
    assert info.config.hnsw_config.m == 48
    assert info.payload_schema["lang"].data_type == m.PayloadSchemaType.KEYWORD
    assert info.config.quantization_config.scalar.type == m.ScalarType.INT8
    assert info.config.params.replication_factor == 2
    assert [a.alias_name for a in client.get_collection_aliases("inplace").aliases] == ["inplace-live"]
    cluster.wait_event(ns, "inplace", "Updated", "hnsw_config.m: 16 -> 48")
    # And back: index dropped, alias removed, quantization disabled.
    cluster.apply(ns, doc)
    cluster.wait_for(
        ns, "vectorcollection", "inplace", lambda o: o["metadata"]["generation"] == 3 and ready_is("True")(o)
    )
    info = client.get_collection("inplace")
    assert info.payload_schema == {} and info.config.quantization_config is None
    assert client.get_collection_aliases("inplace").aliases == []


def test_size_change_by_recreate_requires_rebuild_and_keeps_data(
    cluster: Cluster, ns: str, client: QdrantClient
) -> None:
    doc = collection("sized", collectionName=f"{ns}_sized", vectors={"size": 4})
    cluster.apply(ns, doc)
    cluster.wait_for(ns, "vectorcollection", "sized", ready_is("True"))
    client.upsert(
        f"{ns}_sized", points=[m.PointStruct(id=1, vector=[0.1, 0.2, 0.3, 0.4], payload={"k": "v"})]
    )
    cluster.kubectl(
        "delete", "-n", ns, "vectorcollection", "sized", "--timeout=30s"
    )  # Retain: the collection stays
    assert client.collection_exists(f"{ns}_sized")
    bigger = copy.deepcopy(doc)
    bigger["spec"]["vectors"]["size"] = 8
    cluster.apply(ns, bigger)
    obj = cluster.wait_for(ns, "vectorcollection", "sized", ready_is("False", "RequiresRebuild"))
    message = condition(obj)["message"]
    assert "vectors.size: 4 -> 8" in message and "collectionName" in message
    assert obj["status"]["pendingChanges"] == ["vectors.size: 4 -> 8"]
    assert client.get_collection(f"{ns}_sized").config.params.vectors.size == 4
    assert client.count(f"{ns}_sized").count == 1
    assert cluster.wait_event(ns, "sized", "RequiresRebuild")["type"] == "Warning"


def test_drift_is_repaired_with_an_event(cluster: Cluster, ns: str, client: QdrantClient) -> None:
    doc = collection(
        "drift", vectors={"size": 4}, hnsw={"m": 20}, payloadIndexes=[{"field": "t", "type": "integer"}]
    )
    cluster.apply(ns, doc)
    cluster.wait_for(ns, "vectorcollection", "drift", ready_is("True"))
    client.update_collection("drift", hnsw_config=m.HnswConfigDiff(m=4))
    client.delete_payload_index("drift", "t")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        info = client.get_collection("drift")
        if info.config.hnsw_config.m == 20 and "t" in info.payload_schema:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("hnsw/index drift was not repaired")
    assert cluster.wait_event(ns, "drift", "DriftRepaired", "hnsw_config.m: 4 -> 20")["type"] == "Warning"

    client.delete_collection("drift")
    deadline = time.monotonic() + 15
    while not client.collection_exists("drift"):
        assert time.monotonic() < deadline, "dropped collection was not recreated"
        time.sleep(0.3)
    assert client.get_collection("drift").config.hnsw_config.m == 20
    cluster.wait_event(ns, "drift", "DriftRepaired", "recreated it empty")


def test_qdrant_down_then_back(
    cluster: Cluster, ns: str, qdrant: StandInQdrant, client: QdrantClient, tmp_path
) -> None:
    standin_only(qdrant)
    cluster.apply(ns, collection("survivor", vectors={"size": 4}))
    cluster.wait_for(ns, "vectorcollection", "survivor", ready_is("True"))
    other = StandInQdrant(port=free_port()).start()
    try:
        cluster.apply(ns, store("other", other.url))
        qdrant.stop()
        obj = cluster.wait_for(ns, "vectorcollection", "survivor", ready_is("False", "BackendUnreachable"))
        assert "unreachable" in condition(obj)["message"]
        # Other stores keep reconciling while this one is down.
        cluster.apply(ns, collection("elsewhere", store_name="other", vectors={"size": 4}))
        cluster.wait_for(ns, "vectorcollection", "elsewhere", ready_is("True"))
        time.sleep(30 - 4)  # Qdrant down for 30 s in all
        qdrant.start()
        cluster.wait_for(ns, "vectorcollection", "survivor", ready_is("True", "Synced"))
        names = [c.name for c in client.get_collections().collections]
        assert names.count("survivor") == 1
    finally:
        if qdrant._thread is None:
            qdrant.start()
        other.stop()


def test_wrong_api_key_and_rejected_request(cluster: Cluster, ns: str, client: QdrantClient) -> None:
    locked = StandInQdrant(port=free_port(), api_key="right-key-4e7a").start()
    try:
        cluster.apply(
            ns,
            secret("key", k="wrong-key-91b2"),
        )
        cluster.apply(ns, store("locked", locked.url, apiKeySecretRef={"name": "key", "key": "k"}))
        cluster.apply(ns, collection("guarded", store_name="locked", vectors={"size": 4}))
        obj = cluster.wait_for(ns, "vectorcollection", "guarded", ready_is("False", "Unauthorized"))
        assert "rejected the API key" in condition(obj)["message"]
        cluster.apply(
            ns,
            secret("key", k="right-key-4e7a"),
        )
        cluster.wait_for(ns, "vectorcollection", "guarded", ready_is("True"))  # new Secret -> new client
    finally:
        locked.stop()
    cluster.apply(ns, collection("holder", vectors={"size": 4}, aliases=[f"{ns}-taken"]))
    cluster.wait_for(ns, "vectorcollection", "holder", ready_is("True"))
    cluster.apply(ns, collection("clash", collectionName=f"{ns}-taken", vectors={"size": 4}))
    obj = cluster.wait_for(ns, "vectorcollection", "clash", ready_is("False", "CollectionNameConflict"))
    assert f"{ns}-taken is an alias of Qdrant collection holder" in condition(obj)["message"]


def test_delete_policies(cluster: Cluster, ns: str, qdrant: StandInQdrant, client: QdrantClient) -> None:
    cluster.apply(
        ns,
        collection("keep", vectors={"size": 4}),
        collection("drop", vectors={"size": 4}, deletionPolicy="Delete"),
    )
    for name in ("keep", "drop"):
        obj = cluster.wait_for(ns, "vectorcollection", name, ready_is("True"))
        assert "vectorops.io/finalizer" in obj["metadata"]["finalizers"]
    cluster.kubectl("delete", "-n", ns, "vectorcollection", "keep", "drop", "--timeout=30s")
    assert client.collection_exists("keep")
    assert not client.collection_exists("drop")
    assert cluster.kubectl("get", "-n", ns, "vectorcollection", "-o", "name").stdout.strip() == ""


def test_delete_while_qdrant_down(
    cluster: Cluster, ns: str, qdrant: StandInQdrant, client: QdrantClient
) -> None:
    standin_only(qdrant)
    # Qdrant unreachable on delete: retried and reported, never wedged for good: the annotation releases it.
    cluster.apply(ns, collection("stuck", vectors={"size": 4}, deletionPolicy="Delete"))
    cluster.wait_for(ns, "vectorcollection", "stuck", ready_is("True"))
    qdrant.stop()
    try:
        cluster.kubectl("delete", "-n", ns, "vectorcollection", "stuck", "--wait=false")
        obj = cluster.wait_for(ns, "vectorcollection", "stuck", ready_is("False", "DeletionBlocked"))
        assert "vectorops.io/force-delete=true" in condition(obj)["message"]
        cluster.kubectl("annotate", "-n", ns, "vectorcollection", "stuck", "vectorops.io/force-delete=true")
        cluster.kubectl("wait", "-n", ns, "--for=delete", "vectorcollection/stuck", "--timeout=60s")
    finally:
        qdrant.start()
    assert client.collection_exists("stuck")  # force-removed without touching Qdrant
