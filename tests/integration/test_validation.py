"""The apiserver itself rejects bad specs, with a message that says what to change."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Cluster

REPO = Path(__file__).resolve().parents[2]
API = "vectorops.io/v1alpha1"


def obj(kind: str, spec: dict[str, Any], name: str = "x") -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def vc(**spec: Any) -> dict[str, Any]:
    return obj("VectorCollection", {"vectors": {"size": 384}, **spec})


def store(qdrant: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return obj("VectorStore", {"qdrant": qdrant, **spec})


def endpoint(**spec: Any) -> dict[str, Any]:
    return obj(
        "ExternalModelEndpoint", {"url": "https://api.example.com/v1", "models": [{"name": "m"}], **spec}
    )


def model(**spec: Any) -> dict[str, Any]:
    return obj("EmbeddingModel", {"source": {"path": "/models/minilm"}, **spec})


INVALID = [
    ("distance", vc(vectors={"size": 384, "distance": "Cosinus"}), 'Unsupported value: "Cosinus"'),
    ("size-zero", vc(vectors={"size": 0}), "spec.vectors.size: Invalid value: 0"),
    ("size-too-big", vc(vectors={"size": 100000}), "should be less than or equal to 65536"),
    ("unknown-quantization", vc(quantization={"turbo": {}}), 'unknown field "spec.quantization.turbo"'),
    (
        "two-quantizations",
        vc(quantization={"scalar": {}, "binary": {}}),
        "quantization must set exactly one of scalar, product or binary",
    ),
    ("product-compression", vc(quantization={"product": {"compression": "x3"}}), 'Unsupported value: "x3"'),
    (
        "ingest-error-ratio-zero",
        vc(alerts={"ingestErrorRatio": 0}),
        "spec.alerts.ingestErrorRatio: Invalid value: 0",
    ),
    (
        "ingest-error-ratio-over-one",
        vc(alerts={"ingestErrorRatio": 1.5}),
        "spec.alerts.ingestErrorRatio: Invalid value: 1.5",
    ),
    ("search-p99-zero", vc(alerts={"searchP99Seconds": 0}), "spec.alerts.searchP99Seconds: Invalid value: 0"),
    ("vectors-and-named", vc(namedVectors={"a": {"size": 3}}), "set either spec.vectors"),
    (
        "no-dimension",
        obj("VectorCollection", {"vectors": {"distance": "Dot"}}),
        "the vector dimension is unknown",
    ),
    (
        "named-without-size",
        obj("VectorCollection", {"namedVectors": {"a": {"distance": "Dot"}}}),
        "every entry of spec.namedVectors needs a size",
    ),
    (
        "bad-vector-name",
        obj("VectorCollection", {"namedVectors": {"a b": {"size": 3}}}),
        "vector names must match",
    ),
    (
        "consistency",
        vc(replicationFactor=1, writeConsistencyFactor=2),
        "spec.writeConsistencyFactor must not exceed spec.replicationFactor",
    ),
    (
        "alias-equals-name",
        vc(collectionName="docs", aliases=["docs"]),
        "an alias may not equal the collection name",
    ),
    ("bad-collection-name", vc(collectionName="my docs!"), "spec.collectionName: Invalid value"),
    (
        "duplicate-index",
        vc(payloadIndexes=[{"field": "a", "type": "keyword"}, {"field": "a", "type": "integer"}]),
        "Duplicate value",
    ),
    ("index-type", vc(payloadIndexes=[{"field": "a", "type": "string"}]), 'Unsupported value: "string"'),
    (
        "sparse-name-clash",
        obj("VectorCollection", {"namedVectors": {"a": {"size": 3}}, "sparseVectors": {"a": {}}}),
        "a sparse vector may not share a name",
    ),
    ("deletion-policy", vc(deletionPolicy="Orphan"), 'Unsupported value: "Orphan"'),
    ("store-ftp", store({"url": "ftp://qdrant:6333"}), "qdrant.url must be an http(s) URL"),
    ("store-not-a-url", store({"url": "qdrant"}), "qdrant.url must be an http(s) URL"),
    ("store-local-absolute", store({"url": "local:/var/lib/q"}), "or local:<folder>"),
    ("store-local-escape", store({"url": "local:../other-ns/q"}), "or local:<folder>"),
    (
        "model-dimension-vs-truncation",
        model(dimension=384, dimensions=256),
        "spec.dimension must equal spec.dimensions",
    ),
    (
        "store-tls-on-http",
        store({"url": "http://q:6333", "tls": {"insecureSkipVerify": True}}),
        "qdrant.tls applies only to an https:// url",
    ),
    (
        "store-postgres-without-secret",
        store({"url": "http://q:6333"}, postgres={}),
        "spec.postgres: set exactly one of dsnSecretRef",
    ),
    (
        "store-postgres-two-secrets",
        store(
            {"url": "http://q:6333"},
            postgres={"dsnSecretRef": {"name": "a", "key": "dsn"}, "credentialsSecretRef": {"name": "b"}},
        ),
        "spec.postgres: set exactly one of dsnSecretRef",
    ),
    (
        "store-postgres-ca-without-verification",
        store(
            {"url": "http://q:6333"},
            postgres={"dsnSecretRef": {"name": "a", "key": "dsn"}, "caSecretRef": {"name": "c", "key": "ca"}},
        ),
        "caSecretRef needs sslmode require, verify-ca or verify-full",
    ),
    (
        "store-postgres-pool",
        store(
            {"url": "http://q:6333"},
            postgres={"dsnSecretRef": {"name": "a", "key": "dsn"}, "pool": {"minSize": 8, "maxSize": 2}},
        ),
        "postgres.pool.minSize must not exceed maxSize",
    ),
    (
        "store-postgres-sslmode",
        store(
            {"url": "http://q:6333"}, postgres={"dsnSecretRef": {"name": "a", "key": "dsn"}, "sslmode": "on"}
        ),
        'Unsupported value: "on"',
    ),
    (
        "store-postgres-prefix",
        store(
            {"url": "http://q:6333"},
            postgres={"dsnSecretRef": {"name": "a", "key": "dsn"}, "schemaPrefix": 'x"; DROP'},
        ),
        "spec.postgres.schemaPrefix",
    ),
    (
        "store-secret-without-key",
        store({"url": "http://q:6333", "apiKeySecretRef": {"name": "s"}}),
        "spec.qdrant.apiKeySecretRef.key: Required value",
    ),
    ("store-missing-qdrant", obj("VectorStore", {}), "spec.qdrant: Required value"),
    ("endpoint-file-url", endpoint(url="file:///etc/passwd"), "url must be an http(s) URL"),
    (
        "endpoint-bearer-without-secret",
        endpoint(auth={"type": "bearer"}),
        "auth.secretRef is required when auth.type is bearer or header",
    ),
    (
        "endpoint-secret-with-none",
        endpoint(auth={"type": "none", "secretRef": {"name": "s", "key": "k"}}),
        "auth.secretRef is set but auth.type is none",
    ),
    ("endpoint-no-models", endpoint(models=[]), "should have at least 1 items"),
    ("endpoint-style", endpoint(apiStyle="grpc"), 'Unsupported value: "grpc"'),
    (
        "endpoint-timeouts",
        endpoint(timeouts={"connectSeconds": 30, "requestSeconds": 10}),
        "timeouts.connectSeconds must not exceed timeouts.requestSeconds",
    ),
    (
        "endpoint-backoff",
        endpoint(retries={"initialBackoffMs": 9000, "maxBackoffMs": 100}),
        "retries.initialBackoffMs must not exceed retries.maxBackoffMs",
    ),
    (
        "model-two-sources",
        model(source={"path": "/m", "huggingFace": {"repo": "a/b"}}),
        "source must set exactly one of huggingFace, path or volume",
    ),
    ("model-no-source", model(source={}), "source must set exactly one of huggingFace, path or volume"),
    ("model-fp16-cpu", model(precision="fp16"), "precision fp16 needs device: gpu"),
    ("model-gpu-on-cpu", model(gpu={"count": 1}), "spec.gpu is only valid with device: gpu"),
    (
        "model-replicas-and-autoscaling",
        model(replicas=2, autoscaling={"maxReplicas": 4}),
        "set spec.replicas or spec.autoscaling, not both",
    ),
    (
        "model-autoscaling-bounds",
        model(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
        "autoscaling.minReplicas must not exceed maxReplicas",
    ),
    (
        "model-autoscaling-without-cpu-request",
        model(autoscaling={"maxReplicas": 4}),
        "spec.autoscaling needs spec.resources.requests.cpu",
    ),
    (
        "model-bad-scrape-interval",
        model(monitoring={"scrapeInterval": "soon"}),
        "spec.monitoring.scrapeInterval",
    ),
    ("model-bad-repo", model(source={"huggingFace": {"repo": "not a repo"}}), "spec.source.huggingFace.repo"),
    ("model-device", model(device="tpu"), 'Unsupported value: "tpu"'),
]


@pytest.mark.parametrize(("manifest", "message"), [pytest.param(m, msg, id=i) for i, m, msg in INVALID])
def test_invalid_spec_rejected(
    cluster: Cluster, namespace: str, manifest: dict[str, Any], message: str
) -> None:
    result = cluster.apply(namespace, manifest, dry_run=True, check=False)
    assert result.returncode != 0, f"accepted, but should be rejected: {manifest}"
    assert message in result.stderr, result.stderr
    # Nothing was stored.
    assert cluster.kubectl("get", "-n", namespace, manifest["kind"], "-o", "name").stdout == ""


def test_valid_variants_accepted(cluster: Cluster, namespace: str) -> None:
    for manifest in (
        store({"url": "local:dev/q"}),
        model(dimension=384),
        store({"url": "https://q.example:6333", "tls": {"insecureSkipVerify": True}}),
        obj("VectorCollection", {"embeddingModelRef": {"name": "m"}}),
        vc(quantization={"product": {"compression": "x16"}}, replicationFactor=3, writeConsistencyFactor=2),
        model(device="gpu", precision="fp16", gpu={"count": 2}),
        endpoint(auth={"type": "header", "headerName": "X-Key", "secretRef": {"name": "s", "key": "k"}}),
    ):
        result = cluster.apply(namespace, manifest, dry_run=True, check=False)
        assert result.returncode == 0, result.stderr


UPDATES = [
    ("size", lambda s: s["vectors"].update(size=768), "spec.vectors.size", "vector size is immutable"),
    (
        "distance",
        lambda s: s["vectors"].update(distance="Dot"),
        "spec.vectors.distance",
        "vector distance is immutable",
    ),
    ("remove-size", lambda s: s["vectors"].pop("size"), "spec.vectors", "size cannot be removed once set"),
    (
        "collection-name",
        lambda s: s.update(collectionName="other"),
        "spec.collectionName",
        "spec.collectionName is immutable",
    ),
    (
        "store",
        lambda s: s.update(storeRef={"name": "elsewhere"}),
        "spec.storeRef",
        "spec.storeRef is immutable",
    ),
    (
        "to-named",
        lambda s: (s.pop("vectors"), s.update(namedVectors={"a": {"size": 384}})),
        "spec",
        "switching between spec.vectors and spec.namedVectors",
    ),
]


@pytest.mark.parametrize(
    ("change", "path", "message"), [pytest.param(c, p, m, id=i) for i, c, p, m in UPDATES]
)
def test_immutable_fields(cluster: Cluster, namespace: str, change, path: str, message: str) -> None:
    original = vc(collectionName="docs", storeRef={"name": "s"}, vectors={"size": 384, "distance": "Cosine"})
    cluster.apply(namespace, original)
    changed = copy.deepcopy(original)
    change(changed["spec"])
    result = cluster.apply(namespace, changed, dry_run=True, check=False)
    assert result.returncode != 0, "the change was accepted"
    assert f"{path}: Invalid value" in result.stderr and message in result.stderr, result.stderr
    assert cluster.get(namespace, "vectorcollection", "x")["spec"]["vectors"]["size"] == 384


def test_named_vector_size_immutable(cluster: Cluster, namespace: str) -> None:
    original = obj("VectorCollection", {"namedVectors": {"title": {"size": 8}}})
    cluster.apply(namespace, original)
    changed = copy.deepcopy(original)
    changed["spec"]["namedVectors"]["title"]["size"] = 16
    result = cluster.apply(namespace, changed, dry_run=True, check=False)
    assert "spec.namedVectors[title].size" in result.stderr and "vector size is immutable" in result.stderr


def test_in_place_changes_allowed(cluster: Cluster, namespace: str) -> None:
    original = vc(hnsw={"m": 16}, aliases=["a"])
    cluster.apply(namespace, original)
    changed = copy.deepcopy(original)
    changed["spec"].update(
        hnsw={"m": 32}, aliases=["a", "b"], payloadIndexes=[{"field": "t", "type": "keyword"}]
    )
    result = cluster.apply(namespace, changed, dry_run=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_example_applies(cluster: Cluster, namespace: str) -> None:
    result = cluster.kubectl("apply", "-n", namespace, "-R", "-f", str(REPO / "examples"), check=False)
    assert result.returncode == 0, result.stderr
    expected = sorted(
        f"{d['kind'].lower()}.vectorops.io/{d['metadata']['name']}"
        for path in (REPO / "examples").rglob("*.yaml")
        for d in yaml.safe_load_all(path.read_text())
        if d and d["apiVersion"] == API
    )
    listed = cluster.kubectl("get", "vectorops", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == expected


def test_defaults_are_applied_by_the_apiserver(cluster: Cluster, namespace: str) -> None:
    cluster.apply(namespace, vc())
    spec = cluster.get(namespace, "vectorcollection", "x")["spec"]
    assert spec["vectors"]["distance"] == "Cosine"
    assert spec["deletionPolicy"] == "Retain"
    assert spec["shardNumber"] == 1
