"""What a gateway needs to serve a VectorCollection's data path (ingest, search, delete): one binding per
collection, written by the operator into a ConfigMap owned by the VectorCollection (so it goes with it),
labelled so the gateway watches all of a namespace's bindings at once.

Like the route table, a binding names Secrets and never copies their values: the gateway resolves the
Qdrant API key and the PostgreSQL credentials itself, so rotating a Secret needs no new binding.

A binding is written for every collection the operator has reconciled, usable or not: a collection that
cannot take traffic says why (`unavailable`), so a client gets 503 with that reason rather than 404.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from vectorops.routing.table import VectorIdentity

BINDING_LABEL = "vectorops.io/collection-binding"  # value "true"
BINDING_KEY = "binding.json"
BINDING_PREFIX = "vectorops-binding-"  # not vectorops-collection-: the rules ConfigMap has that name
_MAX_NAME = 253


def binding_configmap_name(collection: str) -> str:
    """The ConfigMap of a VectorCollection's binding (a valid object name for any collection name)."""
    name = f"{BINDING_PREFIX}{collection}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(collection.encode()).hexdigest()[:10]
    return f"{name[: _MAX_NAME - 11].rstrip('.-')}-{digest}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretKey(_Frozen):
    """A key of a Secret in the binding's namespace."""

    secret: str
    key: str


class SslMode(StrEnum):
    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


class QdrantBinding(_Frozen):
    url: str  # http(s)://host:6333; a store on qdrant-client's embedded engine is never bound
    collection: str  # the Qdrant collection's name
    api_key: SecretKey | None = None
    ca: SecretKey | None = None  # PEM bundle verifying an https:// url
    verify: bool = True
    timeout_s: float = 10.0
    vector_name: str | None = None  # the named vector the model's embeddings go into; None: the unnamed one
    distance: str = "Cosine"  # Qdrant's spelling: Cosine, Dot, Euclid, Manhattan
    dimension: int = Field(gt=0)


class PostgresBinding(_Frozen):
    """How to reach the collection's metadata schema: a libpq DSN in one Secret key, or a Secret holding
    host, port, dbname, user and password keys (the layout CloudNativePG and Bitnami write)."""

    dsn: SecretKey | None = None
    credentials_secret: str | None = None
    sslmode: SslMode | None = None  # None: what the DSN says (libpq's default: prefer)
    ca: SecretKey | None = None  # PEM bundle for verify-ca / verify-full
    connect_timeout_s: int = 5
    statement_timeout_ms: int = 10_000
    pool_max: int = 4
    schema_name: str  # created, owned and migrated by the operator
    schema_version: int  # the migration the operator last brought it to


class CollectionBinding(_Frozen):
    name: str  # the VectorCollection's name: what clients put in the URL
    namespace: str
    qdrant: QdrantBinding
    model: str | None = None  # the route (model name) that embeds its texts; None: no embeddingModelRef
    identity: VectorIdentity | None = None  # what the model's vectors must be to fit this collection
    postgres: PostgresBinding | None = None  # None: no metadata schema asked for (or not ready yet)
    postgres_required: bool = False  # spec.postgresSchema.enabled: no write without its metadata
    unavailable: str | None = None  # why the collection cannot take traffic now (None: it can)
    retention_days: int | None = None  # of the operation log (pruned by the operator)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)
