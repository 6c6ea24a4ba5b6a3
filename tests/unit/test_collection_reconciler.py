"""The VectorCollection reconciler, one pass at a time, against the Qdrant stand-in through the real
qdrant-client (no cluster: the Kubernetes side is an in-memory reader)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from qdrant_client import QdrantClient

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.builders.collection_ownership import OWNER_KEY
from vectorops.operator.reconcilers.outcome import Context, Outcome
from vectorops.operator.reconcilers.vectorcollection import CollectionReconciler

uids = itertools.count()


class Kube:
    """VectorStores, EmbeddingModels and VectorCollections by (plural, namespace, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    def put(self, plural: str, namespace: str, name: str, obj: dict[str, Any]) -> None:
        self.objects[(plural, namespace, name)] = obj

    async def secret_keys(self, namespace: str, name: str) -> None:
        return None

    async def secret_value(self, namespace: str, name: str, key: str) -> None:
        return None

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return (plural, namespace, name) in self.objects

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, namespace, name))


@pytest.fixture(scope="module")
def server() -> Iterator[StandInQdrant]:
    with StandInQdrant(port=free_port()) as s:
        yield s


@pytest.fixture
def qdrant(server: StandInQdrant) -> Iterator[QdrantClient]:
    client = QdrantClient(url=server.url, check_compatibility=False)
    yield client
    client.close()


@pytest.fixture
def kube(server: StandInQdrant) -> Kube:
    kube = Kube()
    for ns in ("team-a", "team-b"):
        kube.put("vectorstores", ns, "q", {"spec": {"qdrant": {"url": server.url}}})
    return kube


class Object:
    """A VectorCollection whose status carries over from pass to pass, as the apiserver keeps it."""

    def __init__(self, kube: Kube, namespace: str, name: str, spec: dict[str, Any]) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.spec = {"storeRef": {"name": "q"}, **spec}
        self.uid, self.status = f"uid-{next(uids)}", {}
        self.generation = 1
        kube.put("vectorcollections", namespace, name, {"spec": self.spec})

    def context(self) -> Context:
        return Context(
            self.name, self.namespace, self.uid, self.generation, self.spec, self.status, self.kube,
            datetime.now(UTC),
        )  # fmt: skip

    async def reconcile(self, reconciler: CollectionReconciler) -> Outcome:
        result = await reconciler.reconcile(self.context())
        self.status = {**self.status, **result.desired_status()}
        return result


def cond(result: Outcome, type_: str = "Ready") -> dict[str, Any]:
    return next(c for c in result.conditions if c["type"] == type_)


@pytest.fixture
async def reconciler() -> Any:
    pool = ClientPool()
    yield CollectionReconciler(pool=pool, default_store=None)
    await pool.close()


async def test_created_with_an_ownership_record(kube: Kube, qdrant: QdrantClient, reconciler) -> None:
    docs = Object(kube, "team-a", "owned-1", {"vectors": {"size": 4}})
    result = await docs.reconcile(reconciler)
    assert (cond(result)["status"], cond(result)["reason"]) == ("True", "Synced")
    assert qdrant.get_collection("owned-1").config.metadata[OWNER_KEY] == {
        "namespace": "team-a",
        "name": "owned-1",
        "uid": docs.uid,
    }
    assert [e.reason for e in result.events] == ["Created"]


async def test_another_namespace_cannot_take_over_or_drop_a_collection(
    kube: Kube, qdrant: QdrantClient, reconciler
) -> None:
    mine = Object(kube, "team-a", "shared", {"collectionName": "shared-name", "vectors": {"size": 4}})
    await mine.reconcile(reconciler)
    theirs = Object(
        kube,
        "team-b",
        "shared",
        {
            "collectionName": "shared-name",
            "vectors": {"size": 4},
            "hnsw": {"m": 8},
            "deletionPolicy": "Delete",
        },
    )
    result = await theirs.reconcile(reconciler)
    ready = cond(result)
    assert (ready["status"], ready["reason"]) == ("False", "OwnedElsewhere")
    assert "belongs to VectorCollection team-a/shared" in ready["message"]
    assert qdrant.get_collection("shared-name").config.hnsw_config.m != 8  # nothing written
    [note] = await reconciler.delete(theirs.context())
    assert note.reason == "ExistsNotOwned" and "team-a/shared" in note.message
    assert qdrant.collection_exists("shared-name")


async def test_an_existing_collection_is_adopted_only_when_asked(
    kube: Kube, qdrant: QdrantClient, reconciler
) -> None:
    from qdrant_client.http import models as m

    qdrant.create_collection("handmade", vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE))
    wary = Object(kube, "team-a", "handmade", {"vectors": {"size": 4}, "deletionPolicy": "Delete"})
    result = await wary.reconcile(reconciler)
    assert cond(result)["reason"] == "ExistsNotOwned" and "adoptExisting" in cond(result)["message"]
    assert [n.reason for n in await reconciler.delete(wary.context())] == ["ExistsNotOwned"]
    assert qdrant.collection_exists("handmade")

    wary.spec["adoptExisting"] = True
    result = await wary.reconcile(reconciler)
    assert cond(result)["status"] == "True"
    assert [e.reason for e in result.events] == ["Adopted"]
    assert qdrant.get_collection("handmade").config.metadata[OWNER_KEY]["uid"] == wary.uid


async def test_a_lost_record_is_restored_and_a_recreated_object_takes_its_collection_back(
    kube: Kube, qdrant: QdrantClient, reconciler
) -> None:
    docs = Object(kube, "team-a", "lost", {"vectors": {"size": 4}})
    await docs.reconcile(reconciler)
    qdrant.update_collection("lost", metadata={OWNER_KEY: None})  # someone removes the record
    result = await docs.reconcile(reconciler)
    assert cond(result)["status"] == "True"
    assert [(e.type, e.reason) for e in result.events] == [("Warning", "DriftRepaired")]
    assert qdrant.get_collection("lost").config.metadata[OWNER_KEY]["uid"] == docs.uid
    # Deleted with Retain and created again under the same name: a new uid, the same collection.
    again = Object(kube, "team-a", "lost", {"vectors": {"size": 4}})
    result = await again.reconcile(reconciler)
    assert cond(result)["status"] == "True" and [e.reason for e in result.events] == ["Adopted"]
    assert qdrant.get_collection("lost").config.metadata[OWNER_KEY]["uid"] == again.uid


async def test_a_bound_collection_waits_for_the_model_dimension(
    kube: Kube, qdrant: QdrantClient, reconciler
) -> None:
    kube.put("embeddingmodels", "team-a", "minilm", {"spec": {"source": {"path": "/m"}}, "status": {}})
    bound = Object(
        kube, "team-a", "bound", {"vectors": {"size": 768}, "embeddingModelRef": {"name": "minilm"}}
    )
    result = await bound.reconcile(reconciler)
    assert (cond(result)["status"], cond(result)["reason"]) == ("False", "DimensionUnknown")
    assert not qdrant.collection_exists("bound")
    kube.put("embeddingmodels", "team-a", "minilm", {"spec": {"dimension": 384}, "status": {}})
    result = await bound.reconcile(reconciler)
    assert cond(result)["reason"] == "DimensionMismatch"
    assert not qdrant.collection_exists("bound")
    bound.spec["vectors"] = {"size": 384}
    result = await bound.reconcile(reconciler)
    assert cond(result)["status"] == "True"
    assert qdrant.get_collection("bound").config.params.vectors.size == 384


async def test_parts_not_built_are_named_and_removed_when_no_longer_asked(kube: Kube, reconciler) -> None:
    docs = Object(
        kube, "team-a", "parts", {"vectors": {"size": 4}, "postgresSchema": {"enabled": True}, "alerts": {}}
    )
    result = await docs.reconcile(reconciler)
    # The store declares no PostgreSQL: the schema cannot be made, so the collection is not Ready
    # (the gateway would refuse its writes), while its Qdrant part is fine.
    assert (cond(result)["status"], cond(result)["reason"]) == ("False", "PostgresNotConfigured")
    assert (cond(result, "Schema")["status"], cond(result, "Schema")["reason"]) == (
        "False",
        "PostgresNotConfigured",
    )
    assert cond(result, "Collection")["status"] == "True"
    assert "spec.postgres" in cond(result, "Schema")["message"]
    assert cond(result, "Alerts")["reason"] == "NotImplemented"
    del docs.spec["postgresSchema"], docs.spec["alerts"]
    result = await docs.reconcile(reconciler)
    assert cond(result)["reason"] == "Synced"
    assert {c["type"] for c in result.conditions} == {"Ready", "Collection", "ReferencesResolved"}


async def test_an_alias_declared_by_two_collections_is_not_fought_over(
    kube: Kube, qdrant: QdrantClient, reconciler
) -> None:
    blue = Object(kube, "team-a", "blue", {"vectors": {"size": 4}, "aliases": ["live"]})
    await blue.reconcile(reconciler)
    green = Object(kube, "team-a", "green", {"vectors": {"size": 4}, "aliases": ["live"]})
    result = await green.reconcile(reconciler)
    assert cond(result)["reason"] == "AliasConflict"
    assert "live is held by VectorCollection team-a/blue" in cond(result)["message"]
    assert {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}["live"] == "blue"
    # Blue gives it up: green takes it over in one step (re-pointed, never deleted first).
    blue.spec["aliases"] = []
    kube.put("vectorcollections", "team-a", "blue", {"spec": blue.spec})
    result = await green.reconcile(reconciler)
    assert cond(result)["status"] == "True"
    assert {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}["live"] == "green"
    result = await blue.reconcile(reconciler)  # blue no longer points at it: nothing to delete
    assert cond(result)["status"] == "True"
    assert {a.alias_name: a.collection_name for a in qdrant.get_aliases().aliases}["live"] == "green"


async def test_local_stores_report_the_settings_the_engine_ignores(tmp_path, reconciler) -> None:
    kube = Kube()
    kube.put("vectorstores", "team-a", "q", {"spec": {"qdrant": {"url": "local:dev"}}})
    docs = Object(kube, "team-a", "embedded", {"vectors": {"size": 4}, "hnsw": {"m": 8}})
    refused = await docs.reconcile(reconciler)
    assert cond(refused)["reason"] == "LocalStoresDisabled"
    local = CollectionReconciler(pool=reconciler.pool, default_store=None, local_root=tmp_path)
    result = await docs.reconcile(local)
    assert (cond(result)["status"], cond(result)["reason"]) == ("True", "Incomplete")
    collection = cond(result, "Collection")
    assert collection["reason"] == "SettingsIgnoredByEmbeddedEngine" and "spec.hnsw" in collection["message"]
    assert (tmp_path / "team-a" / "dev").is_dir()


async def test_a_change_qdrant_silently_ignores_is_reported_once_not_sent_forever(reconciler) -> None:
    # An older Qdrant that does not know hnsw payload_m: it answers 200 and never shows the field.
    with StandInQdrant(port=free_port(), unknown_fields=["hnsw_config.payload_m"]) as old:
        kube = Kube()
        kube.put("vectorstores", "team-a", "q", {"spec": {"qdrant": {"url": old.url}}})
        docs = Object(kube, "team-a", "ignored", {"vectors": {"size": 4}, "hnsw": {"m": 8}})
        assert cond(await docs.reconcile(reconciler))["reason"] == "Synced"
        docs.spec["hnsw"] = {"m": 8, "payloadM": 12}
        docs.generation = 2
        result = await docs.reconcile(reconciler)
        collection = cond(result, "Collection")
        assert (collection["status"], collection["reason"]) == ("False", "NotApplied")
        assert "hnsw_config.payload_m: None -> 12" in collection["message"]
        assert cond(result)["reason"] == "NotApplied"
        assert result.events == []  # nothing changed in Qdrant: no Updated event
        writes = sum(1 for method, _ in old.state.requests if method not in ("GET", "HEAD"))
        again = await docs.reconcile(reconciler)  # the resync: not sent again, no DriftRepaired
        assert cond(again)["reason"] == "NotApplied" and again.events == []
        assert sum(1 for method, _ in old.state.requests if method not in ("GET", "HEAD")) == writes


async def test_a_red_collection_is_not_ready(server: StandInQdrant, kube: Kube, reconciler) -> None:
    docs = Object(kube, "team-a", "reddish", {"vectors": {"size": 4}})
    await docs.reconcile(reconciler)
    server.state.set_status("reddish", "yellow")
    result = await docs.reconcile(reconciler)
    assert cond(result)["status"] == "True" and result.desired_status()["qdrantStatus"] == "yellow"
    server.state.set_status("reddish", "red", error="Service internal error: disk full")
    result = await docs.reconcile(reconciler)
    assert (cond(result)["status"], cond(result)["reason"]) == ("False", "CollectionRed")
    assert "disk full" in cond(result)["message"]
    server.state.set_status("reddish", None)
    assert cond(await docs.reconcile(reconciler))["reason"] == "Synced"
