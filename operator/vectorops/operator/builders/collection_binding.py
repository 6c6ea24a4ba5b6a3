"""A VectorCollection's binding for the gateway (vectorops.routing.collections): where its Qdrant
collection is, which model route embeds its texts and what those vectors must be, its PostgreSQL schema
when that is ready, or why the collection cannot take traffic. Pure: from specs and what a pass found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import LOCAL_PREFIX, VectorStoreSpec
from vectorops.operator.builders.postgres_access import PostgresAccess
from vectorops.operator.builders.qdrant_collection import UNNAMED, DesiredCollection
from vectorops.operator.builders.routes import embeddingmodel_offer
from vectorops.routing.collections import (
    BINDING_KEY,
    BINDING_LABEL,
    CollectionBinding,
    PostgresBinding,
    QdrantBinding,
    SecretKey,
    binding_configmap_name,
)
from vectorops.routing.table import VectorIdentity

Manifest = dict[str, Any]


@dataclass(frozen=True)
class SchemaView:
    """What the pass found of the collection's PostgreSQL schema."""

    required: bool  # spec.postgresSchema.enabled
    ready: bool = False  # at the latest migration
    name: str | None = None
    version: int = 0
    access: PostgresAccess | None = None
    problem: str = ""  # the Schema condition's message when not ready


@dataclass(frozen=True)
class PartState:
    """The Collection condition of the pass."""

    usable: bool
    reason: str = ""
    message: str = ""


def model_identity(name: str, namespace: str, model: Mapping[str, Any]) -> VectorIdentity | None:
    """The identity the route of EmbeddingModel `name` declares (routes.embeddingmodel_offer computes
    it), None while the model's dimension is unknown."""
    spec = EmbeddingModelSpec.model_validate(model.get("spec") or {})
    dimension = (model.get("status") or {}).get("dimension") or spec.dimension
    offers = embeddingmodel_offer(name, namespace, spec, dimension).offers
    return offers[0].backend.identity if offers else None


def _vector(
    desired: DesiredCollection, target: int | None
) -> tuple[str | None, Mapping[str, Any], str | None]:
    """(vector name, its params, why none fits): the unnamed vector, else the one named vector whose
    size is the model's dimension (or the only one, without a model)."""
    if desired.unnamed:
        return None, desired.vectors[UNNAMED], None
    fits = sorted(n for n, v in desired.vectors.items() if target is None or v["size"] == target)
    if len(fits) == 1:
        return fits[0], desired.vectors[fits[0]], None
    first = sorted(desired.vectors)[0]
    sizes = ", ".join(f"{n}: {v['size']}" for n, v in sorted(desired.vectors.items()))
    wanted = (
        f"of the model's dimension {target}" if target is not None else "(set embeddingModelRef to pick one)"
    )
    why = (
        f"the data path needs exactly one named vector {wanted}; spec.namedVectors has {sizes}"
        if fits or target is None
        else f"no named vector has the model's dimension {target} (spec.namedVectors has {sizes})"
    )
    return None, desired.vectors[first], why


def _ref(name: str, key: str) -> SecretKey:
    return SecretKey(secret=name, key=key)


def build_binding(
    name: str,
    namespace: str,
    spec: VectorCollectionSpec,
    store_name: str,
    store: VectorStoreSpec,
    desired: DesiredCollection,
    collection: PartState,
    model: Mapping[str, Any] | None,
    schema: SchemaView,
    latest_version: int,
) -> CollectionBinding:
    """`model`: the EmbeddingModel object of spec.embeddingModelRef (None without one)."""
    model_name = spec.embedding_model_ref.name if spec.embedding_model_ref else None
    identity = model_identity(model_name, namespace, model) if model_name and model is not None else None
    vector_name, params, no_vector = _vector(desired, identity.dimension if identity else None)
    q = store.qdrant
    qdrant = QdrantBinding(
        url=q.url,
        collection=desired.name,
        api_key=_ref(q.api_key_secret_ref.name, q.api_key_secret_ref.key) if q.api_key_secret_ref else None,
        ca=_ref(q.tls.ca_secret_ref.name, q.tls.ca_secret_ref.key) if q.tls and q.tls.ca_secret_ref else None,
        verify=not (q.tls is not None and q.tls.insecure_skip_verify),
        timeout_s=float(q.timeout_seconds),
        vector_name=vector_name,
        distance=str(params["distance"]),
        dimension=int(params["size"]),
    )
    schema_ready = schema.ready and schema.version >= latest_version and schema.access is not None
    postgres = None
    if schema.required and schema_ready and schema.access is not None and schema.name is not None:
        a = schema.access
        postgres = PostgresBinding(
            dsn=a.dsn,
            credentials_secret=a.credentials_secret,
            sslmode=a.sslmode,
            ca=a.ca,
            connect_timeout_s=a.connect_timeout_s,
            statement_timeout_ms=a.statement_timeout_ms,
            pool_max=a.pool_max,
            schema_name=schema.name,
            schema_version=schema.version,
        )
    unavailable = None
    if not collection.usable:
        unavailable = f"the Qdrant collection is not ready ({collection.reason}: {collection.message})"
    elif q.url.startswith(LOCAL_PREFIX):
        unavailable = (
            f"VectorStore {store_name} uses qdrant-client's embedded engine ({q.url}), which only the "
            "operator can open: use a Qdrant server URL (http(s)://...) for collections the gateway serves"
        )
    elif no_vector is not None:
        unavailable = no_vector
    elif model_name is not None and identity is None:
        unavailable = f"EmbeddingModel {model_name} has not reported its dimension yet"
    elif schema.required and postgres is None:
        unavailable = (
            f"the PostgreSQL schema asked for by spec.postgresSchema is not ready "
            f"({schema.problem or 'not at the latest migration'}); writes need it"
        )
    retention = (
        spec.postgres_schema.operation_log_retention_days
        if spec.postgres_schema is not None and spec.postgres_schema.enabled
        else None
    )
    return CollectionBinding(
        name=name,
        namespace=namespace,
        qdrant=qdrant,
        model=model_name,
        identity=identity,
        postgres=postgres,
        postgres_required=schema.required,
        unavailable=unavailable,
        retention_days=retention,
    )


def binding_configmap(binding: CollectionBinding) -> Manifest:
    """The ConfigMap the gateway watches (ownerReferences are added when it is applied)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": binding_configmap_name(binding.name),
            "labels": {
                BINDING_LABEL: "true",
                "app.kubernetes.io/managed-by": "vectorops",
                "app.kubernetes.io/component": "collection-binding",
            },
        },
        "data": {BINDING_KEY: binding.to_json()},
    }
