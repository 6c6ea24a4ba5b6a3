"""The collection binding the operator writes for the gateway (a pure builder)."""

from __future__ import annotations

import json
from typing import Any

from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.collection_binding import (
    PartState,
    SchemaView,
    binding_configmap,
    build_binding,
)
from vectorops.operator.builders.postgres_access import postgres_access
from vectorops.operator.builders.qdrant_collection import build_desired, resolve_dimension
from vectorops.routing.collections import BINDING_KEY, BINDING_LABEL, CollectionBinding, SecretKey

PG = {
    "dsnSecretRef": {"name": "pg", "key": "dsn"},
    "sslmode": "verify-full",
    "caSecretRef": {"name": "ca", "key": "pem"},
}
STORE = VectorStoreSpec.model_validate(
    {
        "qdrant": {
            "url": "https://q:6333",
            "apiKeySecretRef": {"name": "qk", "key": "k"},
            "timeoutSeconds": 7,
        },
        "postgres": {**PG, "pool": {"maxSize": 6}, "statementTimeoutMs": 2500},
    }
)
USABLE = PartState(True, "Synced", "matches")
MODEL = {
    "spec": {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}, "dimension": 384},
    "status": {"dimension": 384},
}


def _schema(ready: bool = True, version: int = 1) -> SchemaView:
    assert STORE.postgres is not None
    return SchemaView(True, ready, "vectorops_ns_docs_0123456789", version, postgres_access(STORE.postgres))


def binding(
    spec: dict[str, Any],
    store: VectorStoreSpec = STORE,
    collection: PartState = USABLE,
    model: dict[str, Any] | None = MODEL,
    schema: SchemaView | None = None,
) -> CollectionBinding:
    s = VectorCollectionSpec.model_validate(spec)
    model_name = s.embedding_model_ref.name if s.embedding_model_ref else None
    model_dim = (model or {}).get("status", {}).get("dimension") if model_name else None
    desired = build_desired(s, "docs", resolve_dimension(s, model_name, model_dim))
    return build_binding(
        "docs", "ns", s, "q", store, desired, collection, model if model_name else None,
        schema or SchemaView(required=False), latest_version=1,
    )  # fmt: skip


def test_an_unnamed_vector_with_a_model_and_a_ready_schema() -> None:
    b = binding(
        {"embeddingModelRef": {"name": "minilm"}, "postgresSchema": {"operationLogRetentionDays": 14}},
        schema=_schema(),
    )
    assert b.unavailable is None
    assert (b.qdrant.url, b.qdrant.collection, b.qdrant.vector_name, b.qdrant.dimension) == (
        "https://q:6333",
        "docs",
        None,
        384,
    )
    assert b.qdrant.api_key == SecretKey(secret="qk", key="k") and b.qdrant.timeout_s == 7.0
    assert b.model == "minilm"
    assert b.identity is not None
    assert (b.identity.model, b.identity.dimension, b.identity.normalized) == (
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
        True,
    )
    assert b.postgres is not None and b.postgres_required and b.retention_days == 14
    assert (b.postgres.dsn, b.postgres.ca, b.postgres.sslmode) == (
        SecretKey(secret="pg", key="dsn"),
        SecretKey(secret="ca", key="pem"),
        "verify-full",
    )
    assert (b.postgres.pool_max, b.postgres.statement_timeout_ms, b.postgres.schema_version) == (6, 2500, 1)
    cm = binding_configmap(b)
    assert cm["metadata"]["labels"][BINDING_LABEL] == "true"
    assert cm["metadata"]["name"] == "vectorops-binding-docs"
    data = json.loads(cm["data"][BINDING_KEY])
    assert CollectionBinding.model_validate(data) == b
    assert "password" not in cm["data"][BINDING_KEY]


def test_named_vectors_pick_the_one_of_the_model_dimension() -> None:
    b = binding(
        {
            "embeddingModelRef": {"name": "minilm"},
            "namedVectors": {"title": {"size": 8}, "body": {"size": 384, "distance": "Dot"}},
        }
    )
    assert (b.qdrant.vector_name, b.qdrant.distance, b.qdrant.dimension, b.unavailable) == (
        "body",
        "Dot",
        384,
        None,
    )
    none = binding({"embeddingModelRef": {"name": "minilm"}, "namedVectors": {"a": {"size": 8}}})
    assert (
        none.unavailable is not None and "no named vector has the model's dimension 384" in none.unavailable
    )
    two = binding(
        {"embeddingModelRef": {"name": "minilm"}, "namedVectors": {"a": {"size": 384}, "b": {"size": 384}}}
    )
    assert two.unavailable is not None and "exactly one named vector" in two.unavailable
    one = binding({"namedVectors": {"only": {"size": 8}}}, model=None)
    assert (one.qdrant.vector_name, one.model, one.identity, one.unavailable) == ("only", None, None, None)


def test_a_local_store_is_never_served_by_the_gateway() -> None:
    local = VectorStoreSpec.model_validate({"qdrant": {"url": "local:dev"}})
    b = binding({"vectors": {"size": 4}}, store=local, model=None)
    assert b.unavailable is not None and "use a Qdrant server URL" in b.unavailable
    assert b.postgres is None and not b.postgres_required


def test_a_schema_that_is_not_ready_keeps_postgres_out_and_says_why() -> None:
    spec = {"vectors": {"size": 4}, "postgresSchema": {}}
    down = SchemaView(True, False, problem="PostgreSQL at u@db:5432/app cannot be reached")
    b = binding(spec, model=None, schema=down)
    assert b.postgres is None and b.postgres_required
    assert b.unavailable is not None and "cannot be reached" in b.unavailable
    behind = binding(spec, model=None, schema=_schema(version=0))
    assert behind.postgres is None and behind.unavailable is not None
    off = binding({"vectors": {"size": 4}, "postgresSchema": {"enabled": False}}, model=None)
    assert (off.postgres, off.postgres_required, off.retention_days, off.unavailable) == (
        None,
        False,
        None,
        None,
    )


def test_a_collection_that_is_not_ready_is_unavailable_first() -> None:
    failed = PartState(False, "OwnedElsewhere", "belongs to team-b/docs")
    b = binding({"vectors": {"size": 4}}, collection=failed, model=None)
    assert b.unavailable == "the Qdrant collection is not ready (OwnedElsewhere: belongs to team-b/docs)"


def test_a_model_without_a_dimension_yet() -> None:
    pending = {"spec": {"source": {"huggingFace": {"repo": "org/m"}}}, "status": {}}
    b = binding({"embeddingModelRef": {"name": "m"}, "namedVectors": {"a": {"size": 16}}}, model=pending)
    assert b.model == "m" and b.identity is None
    assert b.unavailable == "EmbeddingModel m has not reported its dimension yet"
