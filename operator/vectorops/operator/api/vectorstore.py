"""VectorStore: where the backing services (Qdrant, PostgreSQL, Redis) live."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from vectorops.operator.api.base import CRDModel, LocalObjectReference, Rule, SecretKeyRef, cel
from vectorops.operator.api.status import StatusBase
from vectorops.routing.collections import SslMode

HTTP_URL_RULE = "isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHost() != ''"
LOCAL_PREFIX = "local:"
# local:<folder>: a relative path of plain segments (no leading /, no ..), resolved by the operator under
# its configured root, one folder per namespace.
LOCAL_FOLDER = r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$"


class QdrantTLS(CRDModel):
    """TLS settings for an https:// Qdrant URL."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "!(has(self.caSecretRef) && self.insecureSkipVerify)",
                "qdrant.tls: set caSecretRef or insecureSkipVerify, not both",
            )
        )
    )

    ca_secret_ref: SecretKeyRef | None = None
    """PEM CA bundle used to verify Qdrant's certificate (default: the system trust store)."""
    insecure_skip_verify: bool = False
    """Do not verify Qdrant's certificate. For tests only."""


class QdrantConnection(CRDModel):
    """How to reach Qdrant."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "!has(self.tls) || self.url.startsWith('https://')",
                "qdrant.tls applies only to an https:// url",
            )
        )
    )

    url: str = Field(
        min_length=1,
        max_length=2048,
        json_schema_extra=cel(
            Rule(
                f"self.startsWith('{LOCAL_PREFIX}')"
                f" ? self.substring({len(LOCAL_PREFIX)}).matches('{LOCAL_FOLDER}') : ({HTTP_URL_RULE})",
                "qdrant.url must be an http(s) URL such as http://qdrant.qdrant.svc:6333, or local:<folder> "
                "(a relative folder such as local:dev) for qdrant-client's embedded engine in development",
            )
        ),
    )
    """REST URL of Qdrant (http://host:6333), or local:<folder> for qdrant-client's embedded engine: a
    folder under the operator's VECTOROPS_LOCAL_STORE_ROOT/<namespace> (development only; refused when
    the operator has no local store root)."""
    api_key_secret_ref: SecretKeyRef | None = None
    """Secret key holding Qdrant's API key, sent as the api-key header."""
    prefer_grpc: bool = False
    """Use gRPC (grpcPort) for data calls where the client supports it."""
    grpc_port: int = Field(default=6334, ge=1, le=65535)
    """Qdrant's gRPC port."""
    timeout_seconds: int = Field(default=10, ge=1, le=300)
    """Timeout of one call to Qdrant."""
    tls: QdrantTLS | None = None
    """TLS verification settings (https only)."""


class PostgresPool(CRDModel):
    """The operator's connection pool to this PostgreSQL (the gateway's pool takes maxSize too)."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule("self.minSize <= self.maxSize", "postgres.pool.minSize must not exceed maxSize")
        )
    )

    min_size: int = Field(default=1, ge=0, le=32)
    """Connections kept open."""
    max_size: int = Field(default=4, ge=1, le=64)
    """Most connections open at once."""


class PostgresConnection(CRDModel):
    """PostgreSQL for collection metadata schemas and operation logs."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "has(self.dsnSecretRef) != has(self.credentialsSecretRef)",
                "spec.postgres: set exactly one of dsnSecretRef (a Secret key holding a libpq connection "
                "string) or credentialsSecretRef (a Secret with host, port, dbname, user and password keys)",
            ),
            Rule(
                "!has(self.caSecretRef) || (has(self.sslmode) && self.sslmode in "
                "['require', 'verify-ca', 'verify-full'])",
                "spec.postgres.caSecretRef needs sslmode require, verify-ca or verify-full "
                "(verify-full checks the host name too)",
                field_path=".caSecretRef",
            ),
        )
    )

    dsn_secret_ref: SecretKeyRef | None = None
    """Secret key holding a libpq connection string (postgresql://user:pass@host:5432/db)."""
    credentials_secret_ref: LocalObjectReference | None = None
    """Secret holding host, port, dbname, user and password keys (the layout CloudNativePG and Bitnami
    write); host and user are required, the others default as libpq's do."""
    sslmode: SslMode | None = None
    """libpq sslmode; default: what the DSN says, else libpq's default (prefer)."""
    ca_secret_ref: SecretKeyRef | None = None
    """Secret key holding the PEM CA bundle that verifies the server's certificate."""
    schema_prefix: str = Field(default="vectorops_", max_length=32, pattern=r"^[a-z_][a-z0-9_]*$")
    """Prefix of the per-collection schema names."""
    pool: PostgresPool | None = None
    """Pool sizes (default minSize 1, maxSize 4)."""
    statement_timeout_ms: int = Field(default=10_000, ge=100, le=600_000)
    """statement_timeout of every session, in milliseconds."""
    connect_timeout_seconds: int = Field(default=5, ge=1, le=60)
    """How long one connection attempt may take."""

    @property
    def pool_sizes(self) -> tuple[int, int]:
        pool = self.pool or PostgresPool()
        return pool.min_size, pool.max_size


class RedisConnection(CRDModel):
    """Redis for the embedding cache."""

    url_secret_ref: SecretKeyRef
    """Secret key holding a Redis URL (redis://[:password@]host:6379/0 or rediss://)."""


class VectorStoreSpec(CRDModel):
    """Connection details of the backing services that collections and models refer to."""

    qdrant: QdrantConnection
    """The Qdrant cluster holding the collections."""
    postgres: PostgresConnection | None = None
    """PostgreSQL for collection metadata schemas (optional)."""
    redis: RedisConnection | None = None
    """Redis for the embedders' result cache (optional)."""


class ProbeStatus(CRDModel):
    """What the last probe of a backing service found."""

    reachable: bool
    """A connection answered."""
    server_version: str | None = None
    """The version the server reports."""
    latency_ms: float | None = None
    """Round trip of the probe's query, in milliseconds."""
    last_probe_time: datetime | None = None
    """When these values were recorded (refreshed when they change, else every few minutes)."""


class VectorStoreStatus(StatusBase):
    """Observed state of a VectorStore."""

    postgres: ProbeStatus | None = None
    """The PostgreSQL of spec.postgres, as last probed."""
    redis: ProbeStatus | None = None
    """The Redis of spec.redis, as last probed."""
