"""The pure spec -> desired collection builder, and the diff it feeds."""

from __future__ import annotations

import pytest

from vectorops.operator.api import VectorCollectionSpec
from vectorops.operator.builders.collection_diff import ObservedCollection, diff_collection
from vectorops.operator.builders.qdrant_collection import (
    UNNAMED,
    DimensionError,
    build_desired,
    ignored_by_embedded_engine,
    resolve_dimension,
)


def spec(**fields) -> VectorCollectionSpec:
    return VectorCollectionSpec.model_validate(fields)


def observed_from(desired, **overrides) -> ObservedCollection:
    """What Qdrant would report right after creating `desired` with its indexes and aliases."""
    base = dict(
        name=desired.name,
        vectors={
            n: {**v, "quantization_config": v.get("quantization_config")} for n, v in desired.vectors.items()
        },
        sparse_vectors=dict(desired.sparse_vectors),
        shard_number=desired.shard_number,
        replication_factor=desired.replication_factor,
        write_consistency_factor=desired.write_consistency_factor,
        on_disk_payload=desired.on_disk_payload,
        hnsw={"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, **desired.hnsw},
        optimizers={"deleted_threshold": 0.2, **desired.optimizers},
        quantization=desired.quantization,
        payload_indexes=dict(desired.payload_indexes),
        aliases=desired.aliases,
        all_aliases={a: desired.name for a in desired.aliases},
    )
    return ObservedCollection(**{**base, **overrides})


def test_unnamed_vector_in_qdrant_shape() -> None:
    d = build_desired(
        spec(vectors={"size": 8, "distance": "Dot", "onDisk": True, "hnsw": {"m": 4}}), "docs", 8
    )
    assert d.name == "docs"
    assert d.vectors == {
        UNNAMED: {
            "size": 8,
            "distance": "Dot",
            "on_disk": True,
            "hnsw_config": {"m": 4},
            "quantization_config": None,
        }
    }
    assert d.unnamed and d.dimension == 8


def test_declared_fields_only() -> None:
    d = build_desired(
        spec(vectors={"size": 3}, hnsw={"efConstruct": 64}, optimizers={"indexingThreshold": 0}), "c", 3
    )
    assert d.hnsw == {"ef_construct": 64}
    assert d.optimizers == {"indexing_threshold": 0}
    assert d.quantization is None


def test_quantization_and_indexes() -> None:
    d = build_desired(
        spec(
            vectors={"size": 3},
            quantization={"product": {"compression": "x32"}},
            payloadIndexes=[
                {"field": "t", "type": "keyword", "isTenant": True},
                {"field": "n", "type": "integer"},
            ],
        ),
        "c",
        3,
    )
    assert d.quantization == {"product": {"compression": "x32"}}
    assert d.payload_indexes == {"t": {"type": "keyword", "is_tenant": True}, "n": {"type": "integer"}}


def test_named_and_sparse() -> None:
    d = build_desired(
        spec(
            namedVectors={"b": {"size": 2}, "a": {"size": 4, "distance": "Euclid"}},
            sparseVectors={"kw": {"modifier": "idf", "onDisk": True}},
        ),
        "c",
        None,
    )
    assert list(d.vectors) == ["a", "b"] and d.dimension is None
    assert d.sparse_vectors == {"kw": {"modifier": "idf", "index": {"on_disk": True}}}


@pytest.mark.parametrize(
    ("fields", "model_dim", "expected"),
    [
        ({"vectors": {"size": 8}}, None, 8),
        ({"embeddingModelRef": {"name": "m"}}, 384, 384),
        ({"vectors": {"size": 384}, "embeddingModelRef": {"name": "m"}}, 384, 384),
        ({"namedVectors": {"a": {"size": 2}}}, 99, None),
    ],
)
def test_resolve_dimension(fields, model_dim, expected) -> None:
    model = "m" if "embeddingModelRef" in fields else None
    assert resolve_dimension(spec(**fields), model, model_dim) == expected


def test_a_bound_collection_waits_for_the_model_even_with_a_declared_size() -> None:
    # Creating it at the declared size while the model is unknown could fix a wrong size for good.
    bound = spec(vectors={"size": 768}, embeddingModelRef={"name": "minilm"})
    with pytest.raises(DimensionError) as e:
        resolve_dimension(bound, "minilm", None)
    assert e.value.reason == "DimensionUnknown"
    assert "nothing is created until then" in str(e.value)


def test_settings_the_embedded_engine_ignores_are_named() -> None:
    assert ignored_by_embedded_engine(spec(vectors={"size": 4})) == []
    named = spec(
        namedVectors={"a": {"size": 2, "hnsw": {"m": 8}}, "b": {"size": 2, "onDisk": True}},
        hnsw={"m": 4},
        payloadIndexes=[{"field": "t", "type": "keyword"}],
        shardNumber=2,
    )
    assert ignored_by_embedded_engine(named) == [
        "spec.hnsw",
        "spec.payloadIndexes",
        "spec.shardNumber",
        "spec.namedVectors.a.hnsw",
        "spec.namedVectors.b.onDisk",
    ]


def test_dimension_mismatch_is_reported_before_qdrant() -> None:
    with pytest.raises(DimensionError) as e:
        resolve_dimension(spec(vectors={"size": 768}, embeddingModelRef={"name": "minilm"}), "minilm", 384)
    assert e.value.reason == "DimensionMismatch"
    assert "spec.vectors.size is 768 but EmbeddingModel minilm produces 384-dimensional vectors" in str(
        e.value
    )
    with pytest.raises(DimensionError, match="waiting for EmbeddingModel minilm") as e:
        resolve_dimension(spec(embeddingModelRef={"name": "minilm"}), "minilm", None)
    assert e.value.reason == "DimensionUnknown"


def test_config_hash_is_stable_and_sensitive() -> None:
    a = build_desired(spec(vectors={"size": 3}, aliases=["x", "y"]), "c", 3)
    b = build_desired(spec(vectors={"size": 3}, aliases=["y", "x"]), "c", 3)
    c = build_desired(spec(vectors={"size": 3}, hnsw={"m": 8}), "c", 3)
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_fresh_collection_has_no_diff() -> None:
    d = build_desired(
        spec(
            vectors={"size": 3},
            hnsw={"m": 8},
            aliases=["live"],
            payloadIndexes=[{"field": "t", "type": "keyword"}],
        ),
        "c",
        3,
    )
    assert diff_collection(d, observed_from(d)).empty


def test_fixed_settings_need_a_rebuild() -> None:
    d = build_desired(spec(vectors={"size": 8, "distance": "Dot"}, shardNumber=2), "c", 8)
    o = observed_from(d, vectors={UNNAMED: {"size": 4, "distance": "Cosine"}}, shard_number=1)
    diff = diff_collection(d, o)
    assert sorted(c.path for c in diff.rebuild) == ["shard_number", "vectors.distance", "vectors.size"]
    assert "vectors.size: 4 -> 8" in diff.summary()


def test_vector_names_and_sparse_names_need_a_rebuild() -> None:
    d = build_desired(spec(namedVectors={"a": {"size": 2}}, sparseVectors={"s": {}}), "c", None)
    o = observed_from(d, vectors={"b": {"size": 2, "distance": "Cosine"}}, sparse_vectors={})
    assert {c.path for c in diff_collection(d, o).rebuild} == {"vectors", "sparse_vectors"}


def test_in_place_update_body() -> None:
    d = build_desired(
        spec(
            vectors={"size": 3, "onDisk": True},
            hnsw={"m": 32},
            replicationFactor=2,
            quantization={"scalar": {"type": "int8"}},
        ),
        "c",
        3,
    )
    o = observed_from(
        d,
        hnsw={"m": 16},
        replication_factor=1,
        quantization=None,
        vectors={UNNAMED: {"size": 3, "distance": "Cosine"}},
    )
    diff = diff_collection(d, o)
    assert not diff.rebuild
    assert diff.update == {
        "vectors": {UNNAMED: {"on_disk": True}},
        "params": {"replication_factor": 2},
        "hnsw_config": {"m": 32},
        "quantization_config": {"scalar": {"type": "int8"}},
    }


def test_removed_quantization_is_disabled() -> None:
    d = build_desired(spec(vectors={"size": 3}), "c", 3)
    diff = diff_collection(d, observed_from(d, quantization={"binary": {"always_ram": True}}))
    assert diff.update == {"quantization_config": "Disabled"}


def test_indexes_created_changed_and_dropped() -> None:
    d = build_desired(
        spec(
            vectors={"size": 3},
            payloadIndexes=[{"field": "a", "type": "keyword"}, {"field": "b", "type": "integer"}],
        ),
        "c",
        3,
    )
    o = observed_from(d, payload_indexes={"b": {"type": "float"}, "stale": {"type": "bool"}})
    diff = diff_collection(d, o)
    assert diff.create_indexes == {"a": {"type": "keyword"}, "b": {"type": "integer"}}
    assert diff.delete_indexes == ["b", "stale"]


def test_alias_moved_without_a_moment_lacking_it() -> None:
    # Qdrant applies alias actions one by one without rollback: a move is one create_alias (it
    # re-points), never delete + create, and creates come before deletes.
    d = build_desired(spec(vectors={"size": 3}, aliases=["live"]), "v2", 3)
    o = observed_from(d, aliases=frozenset({"old"}), all_aliases={"live": "v1", "old": "v2"})
    assert diff_collection(d, o).alias_actions == [
        {"create_alias": {"collection_name": "v2", "alias_name": "live"}},
        {"delete_alias": {"alias_name": "old"}},
    ]


def test_contested_aliases_are_left_alone() -> None:
    d = build_desired(spec(vectors={"size": 3}, aliases=["live", "new"]), "v2", 3)
    o = observed_from(d, aliases=frozenset(), all_aliases={"live": "v1"})
    diff = diff_collection(d, o, contested=frozenset({"live"}))
    assert diff.alias_actions == [{"create_alias": {"collection_name": "v2", "alias_name": "new"}}]


def test_embedded_engine_compares_only_what_it_keeps() -> None:
    d = build_desired(
        spec(vectors={"size": 3}, hnsw={"m": 64}, payloadIndexes=[{"field": "a", "type": "keyword"}]), "c", 3
    )
    o = observed_from(d, hnsw={"m": 16}, payload_indexes={})
    assert not diff_collection(d, o).empty
    assert diff_collection(d, o, full=False).empty
    assert diff_collection(
        d, observed_from(d, vectors={UNNAMED: {"size": 4, "distance": "Cosine"}}), full=False
    ).rebuild
