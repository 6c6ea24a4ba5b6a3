"""The Qdrant stand-in behaves as Qdrant 1.19 does (see vectorops.devtools.qdrant_standin for the sources
each behaviour was checked against): through the real qdrant-client, and through raw HTTP for bodies the
client would never send."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient
from qdrant_client.http import models as m
from qdrant_client.http.exceptions import UnexpectedResponse

from vectorops.devtools.controlplane import free_port
from vectorops.devtools.qdrant_standin import StandInQdrant

names = (f"c{i}" for i in itertools.count())
VECTOR = {"size": 4, "distance": "Cosine"}


@pytest.fixture(scope="module")
def server() -> Iterator[StandInQdrant]:
    s = StandInQdrant(port=free_port()).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client(server: StandInQdrant) -> Iterator[QdrantClient]:
    c = QdrantClient(url=server.url, check_compatibility=False)
    yield c
    c.close()


def call(
    server: StandInQdrant, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"content": raw} if raw is not None else {"json": body}
    response = httpx.request(method, server.url + path, **kwargs)
    return response.status_code, response.json()


def create(server: StandInQdrant, body: Any | None = None) -> str:
    name = next(names)
    status, answer = call(
        server, "PUT", f"/collections/{name}", {"vectors": VECTOR} if body is None else body
    )
    assert status == 200, answer
    return name


def config(server: StandInQdrant, name: str) -> Any:
    status, answer = call(server, "GET", f"/collections/{name}")
    assert status == 200, answer
    return answer["result"]["config"]


def refused(e: pytest.ExceptionInfo[UnexpectedResponse]) -> tuple[int | None, str]:
    import json

    return e.value.status_code, json.loads(e.value.content)["status"]["error"]


# -- defaults -----------------------------------------------------------------------------------------
def test_a_new_collection_reports_qdrant_1_19_defaults(server: StandInQdrant, client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(name, vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE))
    info = client.get_collection(name)
    assert (info.status, info.optimizer_status) == (m.CollectionStatus.GREEN, m.OptimizersStatusOneOf.OK)
    cfg = config(server, name)
    assert cfg["hnsw_config"] == {
        "m": 16,
        "ef_construct": 100,
        "full_scan_threshold": 10000,
        "max_indexing_threads": 0,
        "on_disk": False,
    }
    assert cfg["optimizer_config"] == {
        "deleted_threshold": 0.2,
        "vacuum_min_vector_number": 1000,
        "default_segment_number": 0,
        "indexing_threshold": 10000,
        "flush_interval_sec": 5,
    }
    assert cfg["wal_config"] == {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}
    assert cfg["params"] == {
        "vectors": VECTOR,
        "shard_number": 1,
        "replication_factor": 1,
        "write_consistency_factor": 1,
        "on_disk_payload": True,
    }
    assert "quantization_config" not in cfg and "metadata" not in cfg


# -- 422: validation bounds -----------------------------------------------------------------------------
def _hnsw(**kw: Any) -> Any:
    return {"vectors": VECTOR, "hnsw_config": kw}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_hnsw(ef_construct=2), "hnsw_config.ef_construct: value 2 invalid, must be 4 or larger"),
        (
            _hnsw(full_scan_threshold=5),
            "hnsw_config.full_scan_threshold: value 5 invalid, must be 10 or larger",
        ),
        ({"vectors": {**VECTOR, "size": 70000}}, "vectors.size: must be from 1 to 65536"),
        (
            {"vectors": {"a": VECTOR, "b": {**VECTOR, "hnsw_config": {"ef_construct": 1}}}},
            "vectors.?.hnsw_config.ef_construct: value 1 invalid, must be 4 or larger",
        ),
        ({"vectors": VECTOR, "shard_number": 0}, "shard_number: value 0 invalid, must be 1 or larger"),
        (
            {"vectors": VECTOR, "replication_factor": 0},
            "replication_factor: value 0 invalid, must be 1 or larger",
        ),
        (
            {"vectors": VECTOR, "write_consistency_factor": 0},
            "write_consistency_factor: value 0 invalid, must be 1 or larger",
        ),
        (
            {"vectors": VECTOR, "optimizers_config": {"deleted_threshold": 1.5}},
            "optimizers_config.deleted_threshold: value 1.5 invalid, must be from 0.0 to 1.0",
        ),
        (
            {"vectors": VECTOR, "optimizers_config": {"vacuum_min_vector_number": 50}},
            "optimizers_config.vacuum_min_vector_number: value 50 invalid, must be 100 or larger",
        ),
        (
            {"vectors": VECTOR, "optimizers_config": {"max_segment_size": 0}},
            "optimizers_config.max_segment_size: value 0 invalid, must be 1 or larger",
        ),
        (
            {"vectors": VECTOR, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.3}}},
            "quantization_config.scalar.quantile: value 0.30000001192092896 invalid, must be from 0.5 to 1.0",
        ),
        (
            {"vectors": VECTOR, "wal_config": {"wal_capacity_mb": 0}},
            "wal_config.wal_capacity_mb: value 0 invalid, must be 1 or larger",
        ),
        (
            {"vectors": VECTOR, "strict_mode_config": {"max_query_limit": 0}},
            "strict_mode_config.max_query_limit: value 0 invalid, must be 1 or larger",
        ),
    ],
)
def test_create_out_of_bounds_is_422(server: StandInQdrant, body: Any, message: str) -> None:
    name = next(names)
    status, answer = call(server, "PUT", f"/collections/{name}", body)
    assert status == 422
    assert answer == {"status": {"error": f"Validation error in JSON body: [{message}]"}, "time": 0.0}
    assert call(server, "GET", f"/collections/{name}")[0] == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"hnsw_config": {"ef_construct": 3}},
            "hnsw_config.ef_construct: value 3 invalid, must be 4 or larger",
        ),
        (
            {"vectors": {"": {"hnsw_config": {"full_scan_threshold": 1}}}},
            "vectors.?.hnsw_config.full_scan_threshold: value 1 invalid, must be 10 or larger",
        ),
        (
            {"optimizers_config": {"deleted_threshold": -0.5}},
            "optimizers_config.deleted_threshold: value -0.5 invalid, must be from 0.0 to 1.0",
        ),
        (
            {"quantization_config": {"scalar": {"type": "int8", "quantile": 1.5}}},
            "quantization_config.scalar.quantile: value 1.5 invalid, must be from 0.5 to 1.0",
        ),
        (
            {"hnsw_config": {"ef_construct": 1, "full_scan_threshold": 2}},
            "hnsw_config.ef_construct: value 1 invalid, must be 4 or larger; "
            "hnsw_config.full_scan_threshold: value 2 invalid, must be 10 or larger",
        ),
    ],
)
def test_update_out_of_bounds_is_422_and_changes_nothing(
    server: StandInQdrant, body: Any, message: str
) -> None:
    name = create(server)
    before = config(server, name)
    status, answer = call(server, "PATCH", f"/collections/{name}", body)
    assert (status, answer["status"]["error"]) == (422, f"Validation error in JSON body: [{message}]")
    assert config(server, name) == before


def test_the_client_sees_the_422(client: QdrantClient) -> None:
    with pytest.raises(UnexpectedResponse) as e:
        client.create_collection(
            next(names),
            vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE),
            hnsw_config=m.HnswConfigDiff(full_scan_threshold=5),
        )
    assert refused(e) == (
        422,
        "Validation error in JSON body: [hnsw_config.full_scan_threshold: value 5 invalid, must be 10 or larger]",
    )


# -- 400: bodies that do not deserialize ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "body", "detail"),
    [
        ("PUT", _hnsw(m="x"), 'invalid type: string "x", expected usize'),
        ("PUT", _hnsw(m=2.5), "invalid type: floating point `2.5`, expected usize"),
        ("PUT", _hnsw(m=-1), "invalid value: integer `-1`, expected usize"),
        ("PUT", {"vectors": VECTOR, "on_disk_payload": 1}, "invalid type: integer `1`, expected a boolean"),
        (
            "PUT",
            {"vectors": {**VECTOR, "distance": "Cosinus"}},
            "data did not match any variant of untagged enum VectorsConfig",
        ),
        (
            "PUT",
            {"vectors": {**VECTOR, "size": 0}},
            "data did not match any variant of untagged enum VectorsConfig",
        ),
        (
            "PUT",
            {"vectors": VECTOR, "sparse_vectors": {"s": {"modifier": "bm25"}}},
            "unknown variant `bm25`, expected `none` or `idf`",
        ),
        (
            "PATCH",
            {"params": {"replication_factor": 0}},
            "invalid value: integer `0`, expected a nonzero u32",
        ),
        (
            "PATCH",
            {"quantization_config": "Off"},
            "data did not match any variant of untagged enum QuantizationConfigDiff",
        ),
        (
            "PATCH",
            {"optimizers_config": {"indexing_threshold": -5}},
            "invalid value: integer `-5`, expected usize",
        ),
    ],
)
def test_bodies_that_do_not_deserialize_are_400(
    server: StandInQdrant, method: str, body: Any, detail: str
) -> None:
    name = create(server) if method == "PATCH" else next(names)
    status, answer = call(server, method, f"/collections/{name}", body)
    assert (status, answer) == (
        400,
        {"status": {"error": f"Format error in JSON body: {detail}"}, "time": 0.0},
    )


def test_broken_json_is_400(server: StandInQdrant) -> None:
    status, answer = call(server, "PUT", f"/collections/{next(names)}", raw=b'{"vectors": ')
    assert status == 400
    assert answer["status"]["error"].startswith("Format error in JSON body: EOF while parsing")


# -- engine errors: 400 Wrong input, never 500 ----------------------------------------------------------
def test_wrong_dimension_upsert_is_400_wrong_input(client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(name, vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE))
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(name, points=[m.PointStruct(id=1, vector=[0.1, 0.2, 0.3])])
    assert refused(e) == (400, "Wrong input: Vector dimension error: expected dim: 4, got 3")
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(name, points=m.Batch(ids=[1], vectors=[[0.1, 0.2]]))
    assert refused(e) == (400, "Wrong input: Vector dimension error: expected dim: 4, got 2")
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(name, query=[0.1, 0.2])
    assert refused(e) == (400, "Wrong input: Vector dimension error: expected dim: 4, got 2")


def test_vector_names_are_checked(client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(name, vectors_config={"a": m.VectorParams(size=2, distance=m.Distance.DOT)})
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(name, points=[m.PointStruct(id=1, vector={"b": [1.0, 2.0]})])
    assert refused(e) == (400, "Wrong input: Not existing vector name error: b")
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(name, points=[m.PointStruct(id=1, vector=[1.0, 2.0])])
    assert refused(e) == (400, "Wrong input: Not existing vector name error: ")
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(name, query=[1.0, 2.0])
    assert refused(e) == (
        400,
        "Wrong input: Collection requires specified vector name in the request, available names: a",
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/points", {"points": [{"id": "not-a-uuid", "vector": [1, 2, 3, 4]}]}),
        ("/points", {"points": [{"id": 1, "vector": [1, 2]}]}),
        ("/points", {"batch": {"ids": [1, 2], "vectors": [[1, 2, 3, 4]]}}),
        ("/points", {"points": [{"id": 1}]}),
        ("/points/query", {"query": [1, 2], "limit": 3}),
        ("/points/query", {"query": [1, 2, 3, 4], "using": "nope"}),
        ("/points/query", {"query": "not a vector"}),
        ("/points/count", {"filter": {"must": [{"key": "k", "match": {"value": 1}}], "bogus": 1}}),
        ("/points/scroll", {"offset": "nope"}),
        ("/points", {"ids": ["nope"]}),
        ("/points/delete", {"points": ["nope"]}),
        ("/points/delete", {"filter": 5}),
    ],
)
def test_point_endpoints_refuse_with_400_never_500(server: StandInQdrant, path: str, body: Any) -> None:
    name = create(server)
    method = "PUT" if path == "/points" and ("points" in body or "batch" in body) else "POST"
    status, answer = call(server, method, f"/collections/{name}{path}", body)
    assert status == 400, answer
    assert answer["status"]["error"].startswith(("Wrong input: ", "Format error in JSON body: ")), answer


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/points", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}),
        ("POST", "/points/query", {"query": [1, 2, 3, 4]}),
        ("POST", "/points/count", {}),
        ("POST", "/points/scroll", {}),
        ("POST", "/points", {"ids": [1]}),
        ("POST", "/points/delete", {"points": [1]}),
        ("GET", "", None),
        ("PATCH", "", {"hnsw_config": {"m": 4}}),
    ],
)
def test_a_missing_collection_is_404(server: StandInQdrant, method: str, path: str, body: Any) -> None:
    status, answer = call(server, method, f"/collections/nope{path}", body)
    assert (status, answer["status"]["error"]) == (404, "Not found: Collection `nope` doesn't exist!")


def test_points_round_trip(client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    client.upsert(name, points=[m.PointStruct(id=1, vector=[1.0, 0.0], payload={"k": -1})])
    assert client.count(name).count == 1
    assert client.query_points(name, query=[1.0, 0.0], with_payload=True).points[0].payload == {"k": -1}
    assert [p.id for p in client.scroll(name)[0]] == [1]
    assert client.retrieve(name, ids=[1])[0].payload == {"k": -1}
    client.delete(name, points_selector=m.PointIdsList(points=[1]))
    assert client.count(name).count == 0


# -- unknown fields ---------------------------------------------------------------------------------------
def test_unknown_fields_are_ignored_and_never_shown(server: StandInQdrant) -> None:
    name = next(names)
    body = {
        "vectors": {**VECTOR, "future_vector_knob": 1},
        "hnsw_config": {"m": 8, "future_knob": True},
        "future_section": {"x": 1},
    }
    assert call(server, "PUT", f"/collections/{name}", body)[0] == 200
    status, _ = call(
        server, "PATCH", f"/collections/{name}", {"optimizers_config": {"future": 1}, "params": {"x": 2}}
    )
    assert status == 200
    text = str(config(server, name))
    assert "future" not in text and "'x'" not in text
    assert config(server, name)["hnsw_config"]["m"] == 8


def test_unknown_fields_option_emulates_an_older_qdrant() -> None:
    older = StandInQdrant(
        port=free_port(),
        unknown_fields=[
            "hnsw_config.payload_m",
            "optimizers_config.max_optimization_threads",
            "vectors.*.hnsw_config.m",
            "metadata",
        ],
    ).start()
    try:
        client = QdrantClient(url=older.url, check_compatibility=False)
        client.create_collection(
            "older",
            vectors_config=m.VectorParams(
                size=4, distance=m.Distance.COSINE, hnsw_config=m.HnswConfigDiff(m=8, ef_construct=64)
            ),
            hnsw_config=m.HnswConfigDiff(payload_m=7, ef_construct=50),
            metadata={"k": "v"},
        )
        # the fields it does not know are silently dropped; the rest of the same request is applied
        assert client.update_collection(
            "older",
            hnsw_config=m.HnswConfigDiff(payload_m=9, m=20),
            optimizers_config=m.OptimizersConfigDiff(max_optimization_threads=2, indexing_threshold=500),
            vectors_config={"": m.VectorParamsDiff(hnsw_config=m.HnswConfigDiff(m=4))},
        )
        cfg = config(older, "older")
        assert cfg["hnsw_config"]["m"] == 20 and cfg["hnsw_config"]["ef_construct"] == 50
        assert "payload_m" not in cfg["hnsw_config"]
        assert cfg["optimizer_config"]["indexing_threshold"] == 500
        assert "max_optimization_threads" not in cfg["optimizer_config"]
        assert cfg["params"]["vectors"]["hnsw_config"] == {"ef_construct": 64}
        assert "metadata" not in cfg
        client.close()
    finally:
        older.stop()


# -- merges -----------------------------------------------------------------------------------------------
def test_sparse_index_settings_merge_field_by_field(server: StandInQdrant, client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(
        name,
        vectors_config={},
        sparse_vectors_config={
            "s": m.SparseVectorParams(
                index=m.SparseIndexParams(on_disk=True, full_scan_threshold=100), modifier=m.Modifier.IDF
            )
        },
    )
    client.update_collection(
        name,
        sparse_vectors_config={
            "s": m.SparseVectorParams(index=m.SparseIndexParams(full_scan_threshold=5000))
        },
    )
    assert config(server, name)["params"]["sparse_vectors"] == {
        "s": {"index": {"on_disk": True, "full_scan_threshold": 5000}, "modifier": "idf"}
    }
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection(
            name, sparse_vectors_config={"t": m.SparseVectorParams(modifier=m.Modifier.NONE)}
        )
    assert refused(e) == (400, "Wrong input: Not existing vector name error: t")


def test_config_diffs_merge_as_qdrant_merges_them(server: StandInQdrant, client: QdrantClient) -> None:
    name = next(names)
    client.create_collection(
        name,
        vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE, hnsw_config=m.HnswConfigDiff(m=8)),
        quantization_config=m.ScalarQuantization(
            scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, quantile=0.9)
        ),
    )
    client.update_collection(
        name,
        hnsw_config=m.HnswConfigDiff(ef_construct=64),
        optimizers_config=m.OptimizersConfigDiff(
            indexing_threshold=0, max_optimization_threads=m.MaxOptimizationThreadsSetting.AUTO
        ),
        collection_params=m.CollectionParamsDiff(replication_factor=3),
        vectors_config={"": m.VectorParamsDiff(hnsw_config=m.HnswConfigDiff(payload_m=4), on_disk=True)},
        quantization_config=m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True)),
    )
    cfg = config(server, name)
    assert cfg["hnsw_config"]["m"] == 16 and cfg["hnsw_config"]["ef_construct"] == 64  # field by field
    assert cfg["optimizer_config"]["indexing_threshold"] == 0
    assert cfg["optimizer_config"]["deleted_threshold"] == 0.2
    assert "max_optimization_threads" not in cfg["optimizer_config"]  # "auto" is reported as null
    assert cfg["params"]["replication_factor"] == 3
    assert cfg["params"]["vectors"]["hnsw_config"] == {
        "m": 8,
        "payload_m": 4,
    }  # merged into the vector's diff
    assert cfg["params"]["vectors"]["on_disk"] is True
    assert cfg["quantization_config"] == {
        "binary": {"always_ram": True}
    }  # a method replaces the whole config
    client.update_collection(name, quantization_config=m.Disabled.DISABLED)
    assert "quantization_config" not in config(server, name)


def test_a_failing_part_of_an_update_keeps_the_parts_before_it(server: StandInQdrant) -> None:
    name = create(server)
    body = {"optimizers_config": {"indexing_threshold": 123}, "vectors": {"nope": {"on_disk": True}}}
    status, answer = call(server, "PATCH", f"/collections/{name}", body)
    assert (status, answer["status"]["error"]) == (400, "Wrong input: Not existing vector name error: nope")
    assert config(server, name)["optimizer_config"]["indexing_threshold"] == 123


# -- aliases ----------------------------------------------------------------------------------------------
def aliases(server: StandInQdrant) -> dict[str, str]:
    return {
        a["alias_name"]: a["collection_name"] for a in call(server, "GET", "/aliases")[1]["result"]["aliases"]
    }


def test_alias_actions_apply_one_by_one_without_rollback(server: StandInQdrant, client: QdrantClient) -> None:
    name = create(server)
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection_aliases(
            change_aliases_operations=[
                m.CreateAliasOperation(
                    create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-1")
                ),
                m.CreateAliasOperation(
                    create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-2")
                ),
                m.CreateAliasOperation(
                    create_alias=m.CreateAlias(collection_name="missing", alias_name=f"{name}-3")
                ),
                m.CreateAliasOperation(
                    create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-4")
                ),
            ]
        )
    assert refused(e) == (404, "Not found: Collection `missing` doesn't exist!")
    mine = {a for a, c in aliases(server).items() if c == name}
    assert mine == {f"{name}-1", f"{name}-2"}


def test_deleting_a_missing_alias_succeeds(client: QdrantClient) -> None:
    assert client.update_collection_aliases(
        change_aliases_operations=[m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name="never-was"))]
    )


def test_create_alias_repoints_an_existing_alias(server: StandInQdrant, client: QdrantClient) -> None:
    first, second = create(server), create(server)
    alias = f"{first}-moving"
    for target in (first, second):
        client.update_collection_aliases(
            change_aliases_operations=[
                m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=target, alias_name=alias))
            ]
        )
    assert aliases(server)[alias] == second
    assert client.get_collection(alias).config.params.vectors == m.VectorParams(
        size=4, distance=m.Distance.COSINE
    )


def test_an_alias_may_not_take_a_collection_name(server: StandInQdrant, client: QdrantClient) -> None:
    first, second = create(server), create(server)
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection_aliases(
            change_aliases_operations=[
                m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=first, alias_name=second))
            ]
        )
    assert refused(e) == (409, f"Wrong input: Collection `{second}` already exists!")


def test_a_collection_may_not_take_an_alias_name(server: StandInQdrant, client: QdrantClient) -> None:
    name = create(server)
    client.update_collection_aliases(
        change_aliases_operations=[
            m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-a"))
        ]
    )
    status, answer = call(server, "PUT", f"/collections/{name}-a", {"vectors": VECTOR})
    assert (status, answer["status"]["error"]) == (
        400,
        f"Wrong input: Can't create collection with name {name}-a. Alias with the same name already exists",
    )
    assert client.delete_collection(f"{name}-a") is False  # deleting does not resolve aliases
    assert aliases(server)[f"{name}-a"] == name


def test_rename_alias(server: StandInQdrant, client: QdrantClient) -> None:
    name = create(server)
    client.update_collection_aliases(
        change_aliases_operations=[
            m.CreateAliasOperation(
                create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-old")
            ),
            m.RenameAliasOperation(
                rename_alias=m.RenameAlias(old_alias_name=f"{name}-old", new_alias_name=f"{name}-new")
            ),
        ]
    )
    assert f"{name}-old" not in aliases(server) and aliases(server)[f"{name}-new"] == name
    with pytest.raises(UnexpectedResponse) as e:
        client.update_collection_aliases(
            change_aliases_operations=[
                m.RenameAliasOperation(rename_alias=m.RenameAlias(old_alias_name="ghost", new_alias_name="x"))
            ]
        )
    assert refused(e) == (404, "Not found: Alias ghost does not exists!")


def test_deleting_a_collection_drops_its_aliases(server: StandInQdrant, client: QdrantClient) -> None:
    name = create(server)
    client.update_collection_aliases(
        change_aliases_operations=[
            m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-x"))
        ]
    )
    assert client.delete_collection(name) is True
    assert f"{name}-x" not in aliases(server)
    assert client.delete_collection(name) is False


# -- status -----------------------------------------------------------------------------------------------
def test_tests_can_set_the_status(server: StandInQdrant, client: QdrantClient) -> None:
    name = create(server)
    server.state.set_status(name, "red", error="segment broken")
    info = client.get_collection(name)
    assert info.status == m.CollectionStatus.RED
    assert info.optimizer_status == m.OptimizersStatusOneOf1(error="segment broken")
    server.state.set_status(name, "grey")
    assert client.get_collection(name).status == m.CollectionStatus.GREY
    server.state.set_status(name, None)
    assert client.get_collection(name).status == m.CollectionStatus.GREEN
    with pytest.raises(ValueError, match="status must be one of"):
        server.state.set_status(name, "blue")


def test_an_update_that_reoptimises_is_yellow_for_a_while(
    server: StandInQdrant, client: QdrantClient
) -> None:
    name = create(server)
    server.state.optimize_seconds = 0.4
    try:
        client.update_collection(name, metadata={"k": "v"})
        assert client.get_collection(name).status == m.CollectionStatus.GREEN  # metadata: no optimisation
        client.update_collection(name, hnsw_config=m.HnswConfigDiff(m=32))
        assert client.get_collection(name).status == m.CollectionStatus.YELLOW
        time.sleep(0.5)
        assert client.get_collection(name).status == m.CollectionStatus.GREEN
    finally:
        server.state.optimize_seconds = 0.0


# -- metadata ---------------------------------------------------------------------------------------------
def test_metadata_round_trip_through_the_async_client(server: StandInQdrant) -> None:
    owner = {"vectorops.io/owner": {"namespace": "ns", "name": "docs", "uid": "u-1"}}

    async def scenario() -> None:
        client = AsyncQdrantClient(url=server.url, check_compatibility=False)
        try:
            await client.create_collection(
                "with-metadata",
                vectors_config=m.VectorParams(size=4, distance=m.Distance.DOT),
                metadata=owner,
            )
            assert (await client.get_collection("with-metadata")).config.metadata == owner
            await client.update_collection("with-metadata", metadata={"team": "search"})
            assert (await client.get_collection("with-metadata")).config.metadata == {
                **owner,
                "team": "search",
            }
            moved = {"vectorops.io/owner": {"namespace": "ns", "name": "docs", "uid": "u-2"}}
            await client.update_collection("with-metadata", metadata=moved)
            assert (await client.get_collection("with-metadata")).config.metadata == {
                **moved,
                "team": "search",
            }
        finally:
            await client.close()

    asyncio.run(scenario())


def test_metadata_merges_top_level_keys_and_null_removes(server: StandInQdrant) -> None:
    name = create(server, {"vectors": VECTOR, "metadata": {"a": {"x": 1, "y": 2}, "b": 1, "c": 1}})
    status, _ = call(server, "PATCH", f"/collections/{name}", {"metadata": {"a": {"x": 9}, "b": None}})
    assert status == 200
    assert config(server, name)["metadata"] == {
        "a": {"x": 9},
        "c": 1,
    }  # values replaced whole, not deep-merged


# -- 404 / 409 --------------------------------------------------------------------------------------------
def test_not_found_and_already_exists(server: StandInQdrant, client: QdrantClient) -> None:
    with pytest.raises(UnexpectedResponse) as e:
        client.get_collection("does-not-exist")
    assert refused(e) == (404, "Not found: Collection `does-not-exist` doesn't exist!")
    name = create(server)
    with pytest.raises(UnexpectedResponse) as e:
        client.create_collection(name, vectors_config=m.VectorParams(size=4, distance=m.Distance.COSINE))
    assert refused(e) == (409, f"Wrong input: Collection `{name}` already exists!")
    status, answer = call(server, "PUT", f"/collections/{name}", {"vectors": VECTOR})
    assert status == 409 and set(answer) == {"status", "time"}
