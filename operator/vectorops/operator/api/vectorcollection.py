"""VectorCollection: a Qdrant collection, its Postgres metadata schema and its alert rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from vectorops.operator.api.base import CRDModel, DeletionPolicy, LocalObjectReference, Rule, cel, immutable
from vectorops.operator.api.status import StatusBase

COLLECTION_NAME = r"^[a-zA-Z0-9_-]{1,255}$"
VECTOR_NAME = "^[a-zA-Z0-9_-]{1,64}$"
REBUILD = "Qdrant cannot change it in place; create a new VectorCollection (a new collectionName) and migrate"


class Distance(StrEnum):
    """Similarity function of a vector space."""

    COSINE = "Cosine"
    EUCLID = "Euclid"
    DOT = "Dot"
    MANHATTAN = "Manhattan"


class Datatype(StrEnum):
    """Storage type of vector components."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    UINT8 = "uint8"


class HnswConfig(CRDModel):
    """HNSW index parameters (applied in place by Qdrant)."""

    m: int | None = Field(default=None, ge=0, le=512)
    """Edges per node; 0 disables the global graph (payload-partitioned tenants)."""
    ef_construct: int | None = Field(default=None, ge=4, le=4096)
    """Neighbours considered while building the index."""
    full_scan_threshold: int | None = Field(default=None, ge=10)
    """Below this many KB of vectors a segment is searched without the index."""
    max_indexing_threads: int | None = Field(default=None, ge=0, le=512)
    """Threads for index building; 0 lets Qdrant choose."""
    on_disk: bool | None = None
    """Keep the HNSW graph on disk instead of in RAM."""
    payload_m: int | None = Field(default=None, ge=0, le=512)
    """Edges per node of the payload-aware graph."""


class ScalarQuantization(CRDModel):
    """int8 scalar quantization: 4x smaller, small accuracy loss."""

    type: str = Field(default="int8", json_schema_extra={"enum": ["int8"]})
    """Quantized type (Qdrant supports int8)."""
    quantile: float | None = Field(default=None, ge=0.5, le=1.0)
    """Quantile used to clip outliers when computing the range."""
    always_ram: bool | None = None
    """Keep quantized vectors in RAM even when the originals are on disk."""


class ProductCompression(StrEnum):
    X4 = "x4"
    X8 = "x8"
    X16 = "x16"
    X32 = "x32"
    X64 = "x64"


class ProductQuantization(CRDModel):
    """Product quantization: high compression, larger accuracy loss."""

    compression: ProductCompression
    """Compression ratio."""
    always_ram: bool | None = None
    """Keep quantized vectors in RAM."""


class BinaryQuantization(CRDModel):
    """Binary quantization: 32x smaller, for high-dimensional models trained for it."""

    always_ram: bool | None = None
    """Keep quantized vectors in RAM."""


class Quantization(CRDModel):
    """Quantization of the vectors: exactly one of scalar, product or binary."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "[has(self.scalar), has(self.product), has(self.binary)].filter(x, x).size() == 1",
                "quantization must set exactly one of scalar, product or binary",
            )
        )
    )

    scalar: ScalarQuantization | None = None
    """Scalar (int8) quantization."""
    product: ProductQuantization | None = None
    """Product quantization."""
    binary: BinaryQuantization | None = None
    """Binary quantization."""


class VectorParams(CRDModel):
    """One vector space: dimension, distance, storage and per-vector index overrides."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule("!has(oldSelf.size) || has(self.size)", "size cannot be removed once set"),
        )
    )

    size: int | None = Field(
        default=None, ge=1, le=65536, json_schema_extra=cel(immutable("vector size", REBUILD))
    )
    """Dimension. Omit it on spec.vectors when embeddingModelRef supplies it."""
    distance: Distance = Field(
        default=Distance.COSINE, json_schema_extra=cel(immutable("vector distance", REBUILD))
    )
    """Similarity function."""
    on_disk: bool | None = None
    """Store the original vectors on disk (memmap) instead of in RAM."""
    datatype: Datatype | None = None
    """Storage type of the vector components."""
    hnsw: HnswConfig | None = None
    """HNSW overrides for this vector."""
    quantization: Quantization | None = None
    """Quantization override for this vector."""


class SparseModifier(StrEnum):
    NONE = "none"
    IDF = "idf"


class SparseVectorParams(CRDModel):
    """A sparse vector space (e.g. BM25/SPLADE)."""

    modifier: SparseModifier | None = None
    """idf: let Qdrant apply inverse document frequency at query time."""
    on_disk: bool | None = None
    """Keep the sparse index on disk."""


class Optimizers(CRDModel):
    """Segment optimizer settings (applied in place)."""

    deleted_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Fraction of deleted vectors in a segment that triggers vacuum."""
    vacuum_min_vector_number: int | None = Field(default=None, ge=100)
    """Minimum vectors in a segment before vacuum is considered."""
    default_segment_number: int | None = Field(default=None, ge=0, le=512)
    """Target number of segments; 0 lets Qdrant choose."""
    indexing_threshold: int | None = Field(default=None, ge=0)
    """KB of vectors in a segment above which it gets an HNSW index; 0 disables indexing."""
    memmap_threshold: int | None = Field(default=None, ge=0)
    """KB of vectors in a segment above which it is memory-mapped."""
    flush_interval_sec: int | None = Field(default=None, ge=1)
    """Interval between forced flushes."""
    max_optimization_threads: int | None = Field(default=None, ge=0)
    """Threads for optimizations per shard; 0 disables optimizations."""


class PayloadSchemaType(StrEnum):
    """Type of a payload index."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"
    GEO = "geo"
    DATETIME = "datetime"
    TEXT = "text"
    UUID = "uuid"


class PayloadIndex(CRDModel):
    """An index on a payload field, for filtered search."""

    field: str = Field(min_length=1, max_length=256)
    """Payload key (dotted paths address nested keys)."""
    type: PayloadSchemaType
    """Index type."""
    on_disk: bool | None = None
    """Keep the index on disk."""
    is_tenant: bool | None = Field(default=None)
    """The field partitions tenants (keyword/uuid only): Qdrant co-locates their points."""


class PostgresSchemaSpec(CRDModel):
    """The collection's metadata schema in PostgreSQL (from the VectorStore's postgres)."""

    enabled: bool = True
    """Create a schema holding the collection's metadata and operation log."""
    operation_log_retention_days: int = Field(default=30, ge=1, le=3650)
    """How long entries of the operation log are kept."""


class AlertsSpec(CRDModel):
    """Prometheus alert rules generated for the collection."""

    enabled: bool = True
    """Generate a PrometheusRule for the collection."""
    not_green_for_minutes: int = Field(default=10, ge=1, le=1440)
    """Alert when the collection has not been green for this long."""
    min_indexed_ratio: float = Field(default=0.9, ge=0.0, le=1.0)
    """Alert when indexed vectors / points stays below this ratio."""
    ingest_error_ratio: float = Field(default=0.05, gt=0.0, le=1.0)
    """Alert when more than this share of the gateway's ingest and delete requests for the collection
    fail over 10 minutes (with at least 10 requests in that time)."""
    search_p99_seconds: float = Field(default=1.0, gt=0.0, le=600.0)
    """Alert when the 99th percentile latency of the gateway's uncached searches of the collection
    stays above this for 10 minutes."""
    severity: str = Field(default="warning", json_schema_extra={"enum": ["info", "warning", "critical"]})
    """Severity label of the alerts."""


class VectorCollectionSpec(CRDModel):
    """Desired state of a Qdrant collection."""

    model_config = ConfigDict(
        json_schema_extra=cel(
            Rule(
                "!(has(self.vectors) && has(self.namedVectors))",
                "set either spec.vectors (one unnamed vector) or spec.namedVectors, not both",
            ),
            Rule(
                "has(self.namedVectors) || (has(self.vectors) && has(self.vectors.size))"
                " || has(self.embeddingModelRef)",
                "the vector dimension is unknown: set spec.vectors.size, spec.namedVectors, "
                "or spec.embeddingModelRef (the model supplies the dimension)",
            ),
            Rule(
                "self.writeConsistencyFactor <= self.replicationFactor",
                "spec.writeConsistencyFactor must not exceed spec.replicationFactor",
                field_path=".writeConsistencyFactor",
            ),
            Rule(
                "!has(self.namedVectors) || !has(self.sparseVectors)"
                " || self.sparseVectors.all(k, !(k in self.namedVectors))",
                "a sparse vector may not share a name with a dense vector in spec.namedVectors",
                field_path=".sparseVectors",
            ),
            Rule(
                "!has(self.aliases) || !has(self.collectionName) || !(self.collectionName in self.aliases)",
                "an alias may not equal the collection name",
                field_path=".aliases",
            ),
            Rule(
                "has(self.vectors) == has(oldSelf.vectors)",
                "switching between spec.vectors and spec.namedVectors is not possible in place; "
                "create a new VectorCollection",
            ),
            Rule(
                "(has(self.collectionName) ? self.collectionName : '')"
                " == (has(oldSelf.collectionName) ? oldSelf.collectionName : '')",
                "spec.collectionName is immutable: the data lives in the collection it named",
                field_path=".collectionName",
            ),
            Rule(
                "(has(self.storeRef) ? self.storeRef.name : '')"
                " == (has(oldSelf.storeRef) ? oldSelf.storeRef.name : '')",
                "spec.storeRef is immutable: the data lives in the store it named",
                field_path=".storeRef",
            ),
        )
    )

    store_ref: LocalObjectReference | None = None
    """VectorStore holding the collection (default: the operator's default store)."""
    collection_name: str | None = Field(default=None, pattern=COLLECTION_NAME)
    """Name of the Qdrant collection (default: metadata.name). Immutable."""
    embedding_model_ref: LocalObjectReference | None = None
    """EmbeddingModel whose dimension (and texts) this collection is for."""
    vectors: VectorParams | None = None
    """The single unnamed vector space."""
    named_vectors: dict[str, VectorParams] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        json_schema_extra=cel(
            Rule(f"self.all(k, k.matches('{VECTOR_NAME}'))", "vector names must match " + VECTOR_NAME),
            Rule("self.all(k, has(self[k].size))", "every entry of spec.namedVectors needs a size"),
        ),
    )
    """Several named vector spaces (name -> parameters)."""
    sparse_vectors: dict[str, SparseVectorParams] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra=cel(
            Rule(f"self.all(k, k.matches('{VECTOR_NAME}'))", "sparse vector names must match " + VECTOR_NAME)
        ),
    )
    """Sparse vector spaces (name -> parameters)."""
    hnsw: HnswConfig | None = None
    """Collection-wide HNSW parameters."""
    quantization: Quantization | None = None
    """Collection-wide quantization."""
    optimizers: Optimizers | None = None
    """Segment optimizer settings."""
    shard_number: int = Field(default=1, ge=1, le=1024)
    """Number of shards. Changing it needs a rebuild; the operator reports it."""
    replication_factor: int = Field(default=1, ge=1, le=16)
    """Copies of each shard (distributed Qdrant)."""
    write_consistency_factor: int = Field(default=1, ge=1, le=16)
    """Replicas that must acknowledge a write."""
    on_disk_payload: bool = True
    """Keep payloads on disk (memmap) rather than in RAM."""
    payload_indexes: list[PayloadIndex] = Field(
        default_factory=list,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["field"]},
    )
    """Payload fields to index (one entry per field)."""
    aliases: list[Annotated[str, Field(pattern=COLLECTION_NAME)]] = Field(
        default_factory=list, max_length=16, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    """Aliases pointing at the collection. An alias held by another collection is re-pointed in one step
    (never deleted first), unless the VectorCollection owning that collection declares it too."""
    postgres_schema: PostgresSchemaSpec | None = None
    """Metadata schema and operation log in PostgreSQL."""
    alerts: AlertsSpec | None = None
    """Prometheus alert rules."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """Retain (default) keeps the Qdrant collection and schema on delete; Delete drops them."""
    adopt_existing: bool = False
    """Take over a Qdrant collection of this name that exists without a vectorops ownership record
    (created by hand or another tool): its settings are then changed to match the spec, and with
    deletionPolicy Delete it is dropped with this resource. A collection owned by another
    VectorCollection is never taken over."""


class QdrantCollectionStatus(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    GREY = "grey"
    RED = "red"


class VectorCollectionStatus(StatusBase):
    """Observed state of the collection."""

    collection_name: str | None = None
    """The Qdrant collection this resource manages."""
    dimension: int | None = None
    """Vector dimension in effect (from the spec or the embedding model)."""
    qdrant_status: QdrantCollectionStatus | None = None
    """Qdrant's own status of the collection."""
    points_count: int | None = None
    """Points stored."""
    indexed_vectors_count: int | None = None
    """Vectors covered by an index."""
    segments_count: int | None = None
    """Segments of the collection."""
    config_hash: str | None = None
    """Hash of the configuration last applied."""
    last_applied_time: datetime | None = None
    """When the operator last changed the collection in Qdrant (create, update, repair)."""
    pending_changes: list[str] = Field(default_factory=list, max_length=64)
    """Differences that cannot be applied in place, and why."""
    schema_name: str | None = None
    """The PostgreSQL schema of spec.postgresSchema."""
    schema_version: int | None = None
    """The migration that schema was last brought to."""
    not_applied: list[str] = Field(default_factory=list, max_length=64)
    """In-place changes Qdrant accepted but did not apply (e.g. a field an older Qdrant does not know);
    not sent again until the spec or the collection changes."""
