"""VectorStore: where the backing services (Qdrant, PostgreSQL, Redis) live."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from vectorops.operator.api.base import CRDModel, Rule, SecretKeyRef, cel
from vectorops.operator.api.status import StatusBase

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


class PostgresConnection(CRDModel):
    """PostgreSQL for collection metadata and operation logs."""

    dsn_secret_ref: SecretKeyRef
    """Secret key holding a libpq connection string (postgresql://user:pass@host:5432/db)."""
    schema_prefix: str = Field(default="vectorops_", max_length=32, pattern=r"^[a-z_][a-z0-9_]*$")
    """Prefix of the per-collection schema names."""


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


class VectorStoreStatus(StatusBase):
    """Observed state of a VectorStore."""
