"""VectorCollection spec -> the Qdrant collection it declares, in Qdrant's own REST shapes (plain dicts).

Only what the spec declares is part of the desired state: a field left unset is Qdrant's to choose,
so the diff never fights Qdrant's defaults. Quantization is the exception: absent means none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from vectorops.operator.api.vectorcollection import (
    Distance,
    PayloadIndex,
    SparseVectorParams,
    VectorCollectionSpec,
    VectorParams,
)

UNNAMED = ""  # Qdrant's key for the single unnamed vector in per-vector updates
Json = dict[str, Any]


class DimensionError(ValueError):
    """The dimension is unknown or contradicts the embedding model's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class DesiredCollection:
    name: str
    vectors: dict[str, Json]
    sparse_vectors: dict[str, Json]
    shard_number: int
    replication_factor: int
    write_consistency_factor: int
    on_disk_payload: bool
    hnsw: Json
    optimizers: Json
    quantization: Json | None
    payload_indexes: dict[str, Json]
    aliases: frozenset[str] = field(default_factory=frozenset)

    @property
    def unnamed(self) -> bool:
        return list(self.vectors) == [UNNAMED]

    def config_hash(self) -> str:
        data = asdict(self)
        data["aliases"] = sorted(self.aliases)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def dimension(self) -> int | None:
        return self.vectors[UNNAMED]["size"] if self.unnamed else None


def _declared(model: Any) -> Json:
    return dict(model.model_dump(exclude_none=True, mode="json")) if model is not None else {}


def _vector(params: VectorParams, size: int) -> Json:
    out: Json = {"size": size, "distance": params.distance.value}
    if params.on_disk is not None:
        out["on_disk"] = params.on_disk
    if params.datatype is not None:
        out["datatype"] = params.datatype.value
    if params.hnsw is not None:
        out["hnsw_config"] = _declared(params.hnsw)
    out["quantization_config"] = _quantization(params.quantization)
    return out


def _quantization(q: Any) -> Json | None:
    return _declared(q) if q is not None else None


def _sparse(params: SparseVectorParams) -> Json:
    out: Json = {}
    if params.modifier is not None:
        out["modifier"] = params.modifier.value
    if params.on_disk is not None:
        out["index"] = {"on_disk": params.on_disk}
    return out


def payload_index_schema(index: PayloadIndex) -> Json:
    out: Json = {"type": index.type.value}
    if index.on_disk is not None:
        out["on_disk"] = index.on_disk
    if index.is_tenant is not None:
        out["is_tenant"] = index.is_tenant
    return out


def resolve_dimension(
    spec: VectorCollectionSpec, model_name: str | None, model_dimension: int | None
) -> int | None:
    """The unnamed vector's size: from the spec, or from the bound model, which must know it.

    A collection bound to a model is never created with a guessed size: while the model's dimension is
    unknown, even a declared spec.vectors.size waits (DimensionUnknown), since a size that turns out
    wrong cannot be changed in place. A declared size that contradicts the model's is refused.
    """
    if spec.named_vectors is not None:
        return None
    size = spec.vectors.size if spec.vectors is not None else None
    if model_name is None:
        if size is None:  # CEL requires one of size, namedVectors or embeddingModelRef
            raise DimensionError("DimensionUnknown", "set spec.vectors.size or spec.embeddingModelRef")
        return size
    if model_dimension is None:
        raise DimensionError(
            "DimensionUnknown",
            f"waiting for EmbeddingModel {model_name} to report its dimension (it does once its embedder "
            "serves; declare spec.dimension on the model to skip the wait); nothing is created until then",
        )
    if size is not None and size != model_dimension:
        raise DimensionError(
            "DimensionMismatch",
            f"spec.vectors.size is {size} but EmbeddingModel {model_name} produces "
            f"{model_dimension}-dimensional vectors: remove spec.vectors.size to take the model's, "
            "or reference a model of that size",
        )
    return model_dimension


def ignored_by_embedded_engine(spec: VectorCollectionSpec) -> list[str]:
    """Declared settings that qdrant-client's embedded engine (local: stores) accepts but does not keep;
    they take effect only on a Qdrant server."""
    ignored = [
        f"spec.{name}"
        for name, declared in (
            ("hnsw", spec.hnsw is not None),
            ("quantization", spec.quantization is not None),
            ("optimizers", spec.optimizers is not None),
            ("payloadIndexes", bool(spec.payload_indexes)),
            ("shardNumber", spec.shard_number != 1),
            ("replicationFactor", spec.replication_factor != 1),
            ("writeConsistencyFactor", spec.write_consistency_factor != 1),
        )
        if declared
    ]
    spaces = {"vectors": spec.vectors} if spec.vectors is not None else {}
    spaces |= {f"namedVectors.{n}": p for n, p in (spec.named_vectors or {}).items()}
    for path, params in spaces.items():
        for name in ("hnsw", "quantization", "on_disk"):
            if getattr(params, name) is not None:
                ignored.append(f"spec.{path}.{'onDisk' if name == 'on_disk' else name}")
    return ignored


def build_desired(spec: VectorCollectionSpec, default_name: str, dimension: int | None) -> DesiredCollection:
    """The collection the spec declares. `dimension` comes from resolve_dimension()."""
    if spec.named_vectors is not None:
        vectors = {name: _vector(p, p.size or 0) for name, p in sorted(spec.named_vectors.items())}
    else:
        params = spec.vectors or VectorParams(distance=Distance.COSINE)
        if dimension is None:
            raise DimensionError("DimensionUnknown", "the vector dimension is unknown")
        vectors = {UNNAMED: _vector(params, dimension)}
    return DesiredCollection(
        name=spec.collection_name or default_name,
        vectors=vectors,
        sparse_vectors={n: _sparse(p) for n, p in sorted((spec.sparse_vectors or {}).items())},
        shard_number=spec.shard_number,
        replication_factor=spec.replication_factor,
        write_consistency_factor=spec.write_consistency_factor,
        on_disk_payload=spec.on_disk_payload,
        hnsw=_declared(spec.hnsw),
        optimizers=_declared(spec.optimizers),
        quantization=_quantization(spec.quantization),
        payload_indexes={i.field: payload_index_schema(i) for i in spec.payload_indexes},
        aliases=frozenset(spec.aliases),
    )
