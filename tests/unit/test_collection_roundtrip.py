"""Property: for any valid spec, create -> observe -> diff -> apply converges to an empty diff,
through the real qdrant-client over HTTP against the stand-in; and in-place drift is always repairable."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import AsyncQdrantClient
from qdrant_client.http import models as m

from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.adapters import qdrant as adapter
from vectorops.operator.api import VectorCollectionSpec
from vectorops.operator.builders.collection_diff import diff_collection
from vectorops.operator.builders.collection_ownership import Owner
from vectorops.operator.builders.qdrant_collection import build_desired, resolve_dimension

names = itertools.count()
hnsw = st.fixed_dictionaries(
    {},
    optional={
        "m": st.integers(0, 64),
        "efConstruct": st.integers(4, 512),
        "fullScanThreshold": st.integers(10, 100000),
        "onDisk": st.booleans(),
    },
)
quantization = st.one_of(
    st.fixed_dictionaries(
        {
            "scalar": st.fixed_dictionaries(
                {}, optional={"quantile": st.floats(0.5, 1.0), "alwaysRam": st.booleans()}
            )
        }
    ),
    st.fixed_dictionaries(
        {"product": st.fixed_dictionaries({"compression": st.sampled_from(["x4", "x16", "x64"])})}
    ),
    st.fixed_dictionaries({"binary": st.fixed_dictionaries({}, optional={"alwaysRam": st.booleans()})}),
)
vector = st.fixed_dictionaries(
    {"size": st.integers(1, 32)},
    optional={
        "distance": st.sampled_from(["Cosine", "Dot", "Euclid", "Manhattan"]),
        "onDisk": st.booleans(),
        "hnsw": hnsw,
        "quantization": quantization,
    },
)
index = st.fixed_dictionaries(
    {"type": st.sampled_from(["keyword", "integer", "float", "bool", "datetime", "uuid"])},
    optional={"onDisk": st.booleans()},
)


@st.composite
def specs(draw) -> dict:
    fields: dict = {}
    if draw(st.booleans()):
        fields["vectors"] = draw(vector)
    else:
        fields["namedVectors"] = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), vector, min_size=1))
        if draw(st.booleans()):
            fields["sparseVectors"] = {
                "sparse": draw(
                    st.fixed_dictionaries({}, optional={"modifier": st.sampled_from(["none", "idf"])})
                )
            }
    rf = draw(st.integers(1, 3))
    fields.update(
        shardNumber=draw(st.integers(1, 4)),
        replicationFactor=rf,
        writeConsistencyFactor=draw(st.integers(1, rf)),
        onDiskPayload=draw(st.booleans()),
    )
    if draw(st.booleans()):
        fields["hnsw"] = draw(hnsw)
    if draw(st.booleans()):
        fields["quantization"] = draw(quantization)
    if draw(st.booleans()):
        fields["optimizers"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "indexingThreshold": st.integers(0, 50000),
                    "defaultSegmentNumber": st.integers(0, 8),
                },
            )
        )
    fields["payloadIndexes"] = [{"field": f, **draw(index)} for f in draw(st.sets(st.sampled_from("xyz")))]
    fields["aliases"] = sorted(draw(st.sets(st.sampled_from(["p", "q"]))))
    return fields


@pytest.fixture(scope="module")
def server() -> Iterator[StandInQdrant]:
    with StandInQdrant() as s:
        yield s


async def converge(url: str, fields: dict) -> tuple[adapter.ObservedCollection, object]:
    n = next(names)
    fields = {**fields, "aliases": [f"{a}{n}" for a in fields.get("aliases", [])]}
    spec = VectorCollectionSpec.model_validate(fields)
    desired = build_desired(spec, f"c{n}", resolve_dimension(spec, None, None))
    client = AsyncQdrantClient(url=url, check_compatibility=False)
    try:
        await adapter.create(client, desired, Owner("ns", desired.name, f"uid-{n}"))
        observed = await adapter.observe(client, desired.name)
        first = diff_collection(desired, observed)
        assert not first.rebuild, first.summary()
        await adapter.apply(client, desired.name, first)
        observed = await adapter.observe(client, desired.name)
        assert diff_collection(desired, observed).empty, diff_collection(desired, observed).summary()
        return observed, desired
    finally:
        await client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=specs())
def test_any_spec_converges(server: StandInQdrant, fields: dict) -> None:
    asyncio.run(converge(server.url, fields))


drifts = st.sampled_from(["hnsw", "optimizers", "quantization", "index", "alias", "params"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=specs(), drift=drifts)
def test_in_place_drift_is_repaired(server: StandInQdrant, fields: dict, drift: str) -> None:
    async def scenario() -> None:
        _, desired = await converge(server.url, fields)
        client = AsyncQdrantClient(url=server.url, check_compatibility=False)
        try:
            name = desired.name
            if drift == "hnsw":
                await client.update_collection(name, hnsw_config=m.HnswConfigDiff(m=3, ef_construct=7))
            elif drift == "optimizers":
                await client.update_collection(
                    name,
                    optimizers_config=m.OptimizersConfigDiff(
                        indexing_threshold=123, default_segment_number=9
                    ),
                )
            elif drift == "quantization":
                await client.update_collection(
                    name,
                    quantization_config=m.BinaryQuantization(
                        binary=m.BinaryQuantizationConfig(always_ram=False)
                    ),
                )
            elif drift == "index":
                await client.create_payload_index(name, "intruder", m.PayloadSchemaType.GEO)
            elif drift == "alias":
                await client.update_collection_aliases(
                    change_aliases_operations=[
                        m.CreateAliasOperation(
                            create_alias=m.CreateAlias(collection_name=name, alias_name=f"{name}-x")
                        )
                    ]
                )
            else:
                await client.update_collection(
                    name, collection_params=m.CollectionParamsDiff(replication_factor=7)
                )
            observed = await adapter.observe(client, name)
            diff = diff_collection(desired, observed)
            assert not diff.rebuild
            await adapter.apply(client, name, diff)
            assert diff_collection(desired, await adapter.observe(client, name)).empty
        finally:
            await client.close()

    asyncio.run(scenario())
