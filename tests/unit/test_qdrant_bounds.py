"""The CRD never accepts a value Qdrant 1.19 rejects: every numeric field we expose is bounded at least as
strictly as Qdrant bounds it, and the stand-in enforces the same bounds."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from vectorops.devtools.qdrant_standin import BOUNDS
from vectorops.operator.api.vectorcollection import (
    HnswConfig,
    Optimizers,
    ScalarQuantization,
    VectorCollectionSpec,
    VectorParams,
)

# Qdrant 1.19's bounds: (minimum, maximum, validated). From docs/redoc/v1.19.x/openapi.json, schemas
# HnswConfigDiff, OptimizersConfigDiff, ScalarQuantizationConfig, VectorParams and CreateCollection.
# `validated`: a #[validate(range)] bound (422 when broken); otherwise the minimum is the type's (unsigned
# integer, a 400 when broken). VectorParams.size's maximum is not in the document: it is the custom
# validator validate_nonzerou64_range_min_1_max_65536 (lib/collection/src/operations/types.rs).
QDRANT: dict[str, tuple[float | None, float | None, bool]] = {
    "HnswConfigDiff.m": (0, None, False),
    "HnswConfigDiff.ef_construct": (4, None, True),
    "HnswConfigDiff.full_scan_threshold": (10, None, True),
    "HnswConfigDiff.max_indexing_threads": (0, None, False),
    "HnswConfigDiff.payload_m": (0, None, False),
    "OptimizersConfigDiff.deleted_threshold": (0.0, 1.0, True),
    "OptimizersConfigDiff.vacuum_min_vector_number": (100, None, True),
    "OptimizersConfigDiff.default_segment_number": (0, None, False),
    "OptimizersConfigDiff.max_segment_size": (1, None, True),
    "OptimizersConfigDiff.memmap_threshold": (0, None, False),
    "OptimizersConfigDiff.indexing_threshold": (0, None, False),
    "OptimizersConfigDiff.flush_interval_sec": (0, None, False),
    "OptimizersConfigDiff.max_optimization_threads": (
        0,
        None,
        False,
    ),  # MaxOptimizationThreads: uint | "auto"
    "ScalarQuantizationConfig.quantile": (0.5, 1.0, True),
    "VectorParams.size": (1, 65536, True),
    "CreateCollection.shard_number": (1, None, True),
    "CreateCollection.replication_factor": (1, None, True),
    "CreateCollection.write_consistency_factor": (1, None, True),
}

# Our field -> the Qdrant field it is sent as.
EXPOSED: dict[tuple[type[BaseModel], str], str] = {
    (HnswConfig, "m"): "HnswConfigDiff.m",
    (HnswConfig, "ef_construct"): "HnswConfigDiff.ef_construct",
    (HnswConfig, "full_scan_threshold"): "HnswConfigDiff.full_scan_threshold",
    (HnswConfig, "max_indexing_threads"): "HnswConfigDiff.max_indexing_threads",
    (HnswConfig, "payload_m"): "HnswConfigDiff.payload_m",
    (Optimizers, "deleted_threshold"): "OptimizersConfigDiff.deleted_threshold",
    (Optimizers, "vacuum_min_vector_number"): "OptimizersConfigDiff.vacuum_min_vector_number",
    (Optimizers, "default_segment_number"): "OptimizersConfigDiff.default_segment_number",
    (Optimizers, "indexing_threshold"): "OptimizersConfigDiff.indexing_threshold",
    (Optimizers, "memmap_threshold"): "OptimizersConfigDiff.memmap_threshold",
    (Optimizers, "flush_interval_sec"): "OptimizersConfigDiff.flush_interval_sec",
    (Optimizers, "max_optimization_threads"): "OptimizersConfigDiff.max_optimization_threads",
    (ScalarQuantization, "quantile"): "ScalarQuantizationConfig.quantile",
    (VectorParams, "size"): "VectorParams.size",
    (VectorCollectionSpec, "shard_number"): "CreateCollection.shard_number",
    (VectorCollectionSpec, "replication_factor"): "CreateCollection.replication_factor",
    (VectorCollectionSpec, "write_consistency_factor"): "CreateCollection.write_consistency_factor",
}

# Whole models whose every numeric field goes to Qdrant; of the spec, only the fields named above do.
SENT_WHOLE = (HnswConfig, Optimizers, ScalarQuantization, VectorParams)


def _is_numeric(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_numeric(a) for a in get_args(annotation))
    return annotation in (int, float)


def _bounds(model: type[BaseModel], name: str) -> tuple[float | None, float | None]:
    """The field's (minimum, maximum) as the CRD enforces them (an exclusive bound counts as reached)."""
    low = high = None
    for c in model.model_fields[name].metadata:
        if isinstance(c, annotated_types.Ge):
            low = c.ge
        elif isinstance(c, annotated_types.Gt):
            low = c.gt
        elif isinstance(c, annotated_types.Le):
            high = c.le
        elif isinstance(c, annotated_types.Lt):
            high = c.lt
    return low, high  # type: ignore[return-value]


def test_every_numeric_field_we_send_has_a_row() -> None:
    sent = {
        (model, name)
        for model in SENT_WHOLE
        for name, f in model.model_fields.items()
        if _is_numeric(f.annotation)
    }
    missing = sent - set(EXPOSED)
    assert not missing, f"numeric fields without a Qdrant bounds row: {sorted(n for _, n in missing)}"
    assert set(EXPOSED.values()) <= set(QDRANT), "EXPOSED names a Qdrant field the table lacks"


@pytest.mark.parametrize(("ours", "theirs"), list(EXPOSED.items()), ids=lambda v: str(v))
def test_our_bound_is_at_least_as_strict_as_qdrants(ours: tuple[type[BaseModel], str], theirs: str) -> None:
    model, name = ours
    low, high = _bounds(model, name)
    q_low, q_high, _ = QDRANT[theirs]
    if q_low is not None:
        assert low is not None and low >= q_low, f"{model.__name__}.{name}: minimum {low} < Qdrant's {q_low}"
    if q_high is not None:
        assert high is not None and high <= q_high, (
            f"{model.__name__}.{name}: maximum {high} > Qdrant's {q_high}"
        )


def test_a_value_qdrant_rejects_is_rejected_by_the_crd() -> None:
    with pytest.raises(ValidationError):
        HnswConfig.model_validate({"fullScanThreshold": 5})
    with pytest.raises(ValidationError):
        HnswConfig.model_validate({"efConstruct": 3})
    assert HnswConfig.model_validate({"fullScanThreshold": 10}).full_scan_threshold == 10


def _standin_paths(theirs: str) -> list[tuple[str, str]]:
    schema, name = theirs.split(".")
    return {
        "HnswConfigDiff": [
            ("create", f"hnsw_config.{name}"),
            ("update", f"hnsw_config.{name}"),
            ("create", f"vectors.*.hnsw_config.{name}"),
            ("update", f"vectors.*.hnsw_config.{name}"),
        ],
        "OptimizersConfigDiff": [
            ("create", f"optimizers_config.{name}"),
            ("update", f"optimizers_config.{name}"),
        ],
        "ScalarQuantizationConfig": [
            ("create", "quantization_config.scalar.quantile"),
            ("update", "quantization_config.scalar.quantile"),
            ("create", "vectors.*.quantization_config.scalar.quantile"),
            ("update", "vectors.*.quantization_config.scalar.quantile"),
        ],
        "VectorParams": [("create", f"vectors.*.{name}")],
        "CreateCollection": [("create", name)],
    }[schema]


@pytest.mark.parametrize("theirs", [k for k, (_, _, validated) in QDRANT.items() if validated])
def test_the_standin_enforces_the_validated_bounds(theirs: str) -> None:
    low, high, _ = QDRANT[theirs]
    for kind, path in _standin_paths(theirs):
        bound = BOUNDS[kind].get(path)
        assert bound is not None, f"stand-in has no bound for {kind} {path}"
        assert (bound.min, bound.max) == (low, high), f"{kind} {path}: {bound} vs {theirs} {low}..{high}"
