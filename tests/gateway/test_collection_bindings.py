"""Bindings as the gateway's KubeSource reads them: a bad or foreign binding is skipped (and counted),
and the Secrets a binding names join those whose values the snapshot holds."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.source import KubeSource, binding_secrets, parse_binding
from vectorops.routing.collections import CollectionBinding, PostgresBinding, QdrantBinding, SecretKey
from vectorops.routing.table import RouteTable

BINDING = CollectionBinding(
    name="docs",
    namespace="ml",
    qdrant=QdrantBinding(
        url="https://q:6333",
        collection="ml-docs",
        dimension=8,
        api_key=SecretKey(secret="qdrant", key="api-key"),
        ca=SecretKey(secret="qdrant-ca", key="ca.crt"),
    ),
    model="e5",
    postgres=PostgresBinding(
        credentials_secret="pg-app",
        ca=SecretKey(secret="pg-ca", key="ca.crt"),
        schema_name="vo_ml_docs_1",
        schema_version=1,
    ),
)


def configmap(name: str, raw: str | None) -> Any:
    return SimpleNamespace(metadata=SimpleNamespace(name=name), data={"binding.json": raw} if raw else {})


def test_bad_and_foreign_bindings_are_skipped() -> None:
    assert parse_binding("cm", BINDING.to_json(), "ml") == BINDING
    assert parse_binding("cm", '{"name": 3}', "ml") is None
    assert parse_binding("cm", None, "ml") is None
    assert parse_binding("cm", BINDING.to_json(), "other") is None


def test_the_secrets_a_binding_names() -> None:
    assert binding_secrets([BINDING]) == {"qdrant", "qdrant-ca", "pg-app", "pg-ca"}
    dsn = BINDING.model_copy(
        update={
            "postgres": BINDING.postgres.model_copy(
                update={"dsn": SecretKey(secret="pg-dsn", key="dsn"), "credentials_secret": None, "ca": None}
            )
        }
    )  # type: ignore[union-attr]
    assert binding_secrets([dsn]) == {"qdrant", "qdrant-ca", "pg-dsn"}


def test_the_snapshot_holds_the_bindings_and_their_secrets() -> None:
    metrics = GatewayMetrics()
    source = KubeSource("ml", metrics)
    source._table = RouteTable(namespace="ml", routes=())
    source._on_binding(
        "SYNC", [configmap("vectorops-binding-docs", BINDING.to_json()), configmap("broken", "{")]
    )
    secret = SimpleNamespace(metadata=SimpleNamespace(name="pg-app"), data={"password": "c2VjcmV0"})
    other = SimpleNamespace(metadata=SimpleNamespace(name="unrelated"), data={"x": "eQ=="})
    source._on_secret("SYNC", [secret, other])
    snapshot = source.current()
    assert snapshot is not None
    assert dict(snapshot.collections) == {"docs": BINDING}
    assert snapshot.credentials == {("pg-app", "password"): "secret"}
    assert metrics.registry.get_sample_value("vectorops_gateway_collection_binding_errors_total") == 1
    source._on_binding("DELETED", configmap("vectorops-binding-docs", None))
    assert dict(source.current().collections) == {}  # type: ignore[union-attr]
