"""The HTTP API with the fake model and a real Redis: OpenAI shapes, errors, cache, metrics."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import RedisServer
from tests.embedder.promtext import sample
from vectorops.embedder.app import create_app
from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.settings import EmbedderSettings

MODEL = "fake-model"


async def client_for(settings: EmbedderSettings, backend: FakeBackend) -> TestClient:
    client = TestClient(TestServer(create_app(settings, lambda _: backend)))
    await client.start_server()
    for _ in range(200):
        if (await client.get("/readyz")).status == 200:
            break
        import asyncio

        await asyncio.sleep(0.01)
    return client


@pytest.fixture
async def api(redis_server: RedisServer) -> AsyncIterator[tuple[TestClient, FakeBackend]]:
    backend = FakeBackend(dimension=8)
    settings = EmbedderSettings(
        model=MODEL,
        redis_url=redis_server.url,
        max_request_texts=4,
        max_input_chars=50,
        query_prefix="query: ",
        lru_entries=0,
        cache_retry_seconds=0.3,
    )
    client = await client_for(settings, backend)
    yield client, backend
    await client.close()


async def embed(client: TestClient, **body):
    return await client.post("/v1/embeddings", json={"model": MODEL, **body})


async def test_embeddings_shape_and_usage(api) -> None:
    client, backend = api
    resp = await embed(client, input=["hello world", "a b c"])
    assert resp.status == 200
    body = await resp.json()
    assert body["object"] == "list" and body["model"] == MODEL
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert np.allclose(body["data"][0]["embedding"], backend.encode(["hello world"])[0][0])
    assert body["usage"] == {"prompt_tokens": 4 + 5, "total_tokens": 9}


async def test_base64_and_dimensions(api) -> None:
    client, backend = api
    body = await (await embed(client, input="hello", encoding_format="base64", dimensions=4)).json()
    vec = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    full = backend.encode(["hello"])[0][0][:4]
    assert np.allclose(vec, full / np.linalg.norm(full))


async def test_prefix_by_input_type(api) -> None:
    client, backend = api
    body = await (await embed(client, input="cats", input_type="query")).json()
    assert np.allclose(body["data"][0]["embedding"], backend.encode(["query: cats"])[0][0])


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"input": []}, 400, "non-empty"),
        ({"input": [[1, 2, 3]]}, 400, "token arrays are not supported"),
        ({"input": "x", "model": "other"}, 404, "does not exist"),
        ({"input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"input": "x", "dimensions": 99}, 400, "dimensions must be an integer from 1 to 8"),
        ({"input": ["a"] * 5}, 413, "max_request_texts=4"),
        ({"input": "x" * 51}, 413, "max_input_chars=50"),
    ],
)
async def test_bad_requests(api, body, status, text) -> None:
    client, _ = api
    resp = await client.post("/v1/embeddings", json={"model": MODEL, **body})
    assert resp.status == status
    error = (await resp.json())["error"]
    assert text in error["message"]


async def test_cache_hits_and_stats(api) -> None:
    client, backend = api
    await embed(client, input=["one", "two"])
    passes = len(backend.batches)
    body = await (await embed(client, input=["one", "two"])).json()
    assert len(backend.batches) == passes  # served from Redis
    assert body["usage"]["prompt_tokens"] == 6  # token counts are cached too
    stats = await (await client.get("/cache/stats")).json()
    assert stats["hits"] == 2 and stats["misses"] == 2  # the warm-up bypasses the cache
    assert stats["hit_rate"] > 0 and stats["bytes"] > 0 and stats["redis_available"]
    metrics = await (await client.get("/metrics")).text()
    assert sample(metrics, "vectorops_embedder_cache_lookups_total", result="hit") == 2
    assert sample(metrics, "vectorops_embedder_cache_lookups_total", result="miss") == 2
    assert sample(metrics, "vectorops_embedder_stage_duration_seconds_count", stage="cache") >= 3


async def test_redis_down_bypasses_then_recovers(api, redis_server: RedisServer) -> None:
    client, _ = api
    redis_server.stop()
    resp = await embed(client, input="still served")
    assert resp.status == 200
    errors = (await (await client.get("/cache/stats")).json())["errors"]
    assert errors >= 1
    metrics = await (await client.get("/metrics")).text()
    assert sample(metrics, "vectorops_embedder_cache_errors_total") == errors
    redis_server.start()  # same port; redis-py reconnects by itself once the bypass window ends
    await asyncio.sleep(0.4)
    await embed(client, input="after the outage")  # written to the new Redis
    hits = (await (await client.get("/cache/stats")).json())["hits"]
    await embed(client, input="after the outage")
    stats = await (await client.get("/cache/stats")).json()
    assert stats["hits"] == hits + 1 and stats["redis_available"]


async def test_models_and_health(api) -> None:
    client, backend = api
    models = await (await client.get("/v1/models")).json()
    assert models["data"][0]["id"] == MODEL
    assert models["data"][0]["dimension"] == 8  # what the operator reports in status.dimension
    assert models["data"][0]["revision_digest"] == backend.identity
    assert (await client.get("/healthz")).status == 200


async def test_metrics_move_with_requests(api) -> None:
    client, _ = api
    before = await (await client.get("/metrics")).text()
    await embed(client, input="x")
    await embed(client, input=["y", "z y"])
    await embed(client, input="x")  # a cache hit: no batch
    await embed(client, input=[])  # a 400
    after = await (await client.get("/metrics")).text()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("vectorops_embedder_requests_total", status="200") == 3
    assert delta("vectorops_embedder_requests_total", status="400") == 1
    assert delta("vectorops_embedder_request_duration_seconds_count") == 4
    assert delta("vectorops_embedder_texts_total") == 4
    assert delta("vectorops_embedder_prompt_tokens_total") == 3 + (3 + 4) + 3
    assert delta("vectorops_embedder_cache_lookups_total", result="miss") == 3
    assert delta("vectorops_embedder_cache_lookups_total", result="hit") == 1
    batches = delta("vectorops_embedder_batches_total")
    assert 1 <= batches <= 2  # one per request that missed, unless two were taken together
    assert delta("vectorops_embedder_batch_size_count") == batches
    assert delta("vectorops_embedder_batch_size_sum") == 3
    assert delta("vectorops_embedder_forward_passes_total") >= batches
    assert delta("vectorops_embedder_stage_duration_seconds_count", stage="forward") == batches
    assert delta("vectorops_embedder_stage_duration_seconds_count", stage="tokenize") == batches
    assert delta("vectorops_embedder_stage_duration_seconds_count", stage="queue") == 3
    assert sample(after, "vectorops_embedder_queue_depth") == 0


async def test_a_request_larger_than_the_queue_is_413_not_an_endless_429() -> None:
    settings = EmbedderSettings(model=MODEL, max_queue_size=3, max_request_texts=10)
    client = await client_for(settings, FakeBackend())
    try:
        resp = await embed(client, input=["a", "b", "c", "d"])
        assert resp.status == 413
        assert "max_queue_size=3" in (await resp.json())["error"]["message"]
        assert (await embed(client, input=["a", "b", "c"])).status == 200
    finally:
        await client.close()


async def test_not_ready_while_loading() -> None:
    import threading

    release = threading.Event()

    def slow_factory(_):
        release.wait(5)
        return FakeBackend()

    client = TestClient(TestServer(create_app(EmbedderSettings(model=MODEL), slow_factory)))
    await client.start_server()
    try:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        resp = await embed(client, input="x")
        assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    finally:
        release.set()
        await client.close()
