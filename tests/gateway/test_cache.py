"""The gateway's cache of embedding results, on a real redis-server and a fake provider that counts the
calls it gets: hits call no backend and answer what the first call answered; only the inputs that miss go
upstream; everything that changes a vector changes the key; a failing Redis fails no request."""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp.test_utils import TestServer

from tests.conftest import RedisServer
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.gateway.app import create_app
from vectorops.gateway.embedding_cache import apportion, cache_keys
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Snapshot
from vectorops.gateway.source import StaticSource
from vectorops.routing.table import Backend, Capability, Route, RouteTable, VectorIdentity

IDENTITY = VectorIdentity(model="fake/e5", dimension=8, normalized=True, revision="c0ffee1")


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(dimension=8, models=("e5-up",)) as p:
        yield p


def table(provider: FakeProvider, identity: VectorIdentity | None = IDENTITY, **extra: Any) -> Snapshot:
    backend = Backend(
        source="ExternalModelEndpoint/hosted",
        url=provider.base_url,
        upstream_model="e5-up",
        identity=identity,
        **extra,
    )
    route = Route(model="e5", capability=Capability.EMBEDDINGS, backends=(backend,))
    return Snapshot(RouteTable(namespace="ml", routes=(route,)))


class Gateway:
    def __init__(self, url: str, source: StaticSource, metrics: GatewayMetrics, http: aiohttp.ClientSession):
        self.url, self.source, self.metrics, self.http = url, source, metrics, http

    async def embed(self, input: Any, **options: Any) -> dict[str, Any]:
        body = {"model": "e5", "input": input, **options}
        async with self.http.post(f"{self.url}/v1/embeddings", json=body) as r:
            answer = await r.json()
            assert r.status == 200, answer
            return answer

    async def status(self) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/external/status") as r:
            return await r.json()

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@asynccontextmanager
async def gateway(provider: FakeProvider, **settings: Any) -> AsyncIterator[Gateway]:
    source, metrics = StaticSource(table(provider)), GatewayMetrics()
    app = create_app(GatewaySettings(namespace="ml", auth="none", **settings), source, metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield Gateway(str(server.make_url("")).rstrip("/"), source, metrics, http)
    finally:
        await server.close()


def calls(provider: FakeProvider) -> list[int]:
    """The number of inputs of each embeddings call the provider got."""
    return [r.inputs or 0 for r in provider.requests if r.path == "/v1/embeddings"]


def floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def float32(vector: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))


async def test_a_repeated_request_calls_no_backend_and_gets_the_same_answer(
    provider: FakeProvider, redis_server: RedisServer
) -> None:
    provider.reset()
    async with gateway(provider, redis_url=redis_server.url) as gw:
        first = await gw.embed(["one two three", "four"])
        again = await gw.embed(["one two three", "four"])
        assert calls(provider) == [2]
        assert again == first  # vectors (float32 values, hit or fresh) and usage alike
        assert first["usage"]["prompt_tokens"] == 4  # the fake provider counts words
        # Per input: the total apportioned by length, summing to it.
        assert (await gw.embed("four"))["usage"]["prompt_tokens"] == 1
        assert gw.sample("vectorops_gateway_cache_lookups_total", route="e5", outcome="hit") == 3
        assert gw.sample("vectorops_gateway_cache_lookups_total", route="e5", outcome="miss") == 2
        cache = (await gw.status())["cache"]
        assert (cache["hits"], cache["misses"], cache["redis_available"]) == (3, 2, True)
        assert cache["hit_rate"] == 0.6
    # Another replica (an empty LRU) finds the entries in Redis.
    async with gateway(provider, redis_url=redis_server.url) as other:
        assert await other.embed(["one two three", "four"]) == first
    assert calls(provider) == [2]


async def test_only_the_inputs_that_miss_go_upstream_and_the_order_is_kept(
    provider: FakeProvider, redis_server: RedisServer
) -> None:
    provider.reset()
    async with gateway(provider, redis_url=redis_server.url) as gw:
        known = await gw.embed(["b", "d"])
        gw.source.snapshot = table(provider, max_batch=2)  # the new inputs are split as well
        mixed = await gw.embed(["a", "b", "c", "d", "e"])
        assert sorted(calls(provider)) == [1, 2, 2]  # [b, d], then [a, c] and [e] in parallel
        alone = [(await gw.embed(x))["data"][0]["embedding"] for x in "abcde"]
        assert len(calls(provider)) == 3
    got = [d["embedding"] for d in mixed["data"]]
    assert [d["index"] for d in mixed["data"]] == [0, 1, 2, 3, 4]
    assert (
        got == alone and got[1] == known["data"][0]["embedding"] and got[3] == known["data"][1]["embedding"]
    )
    async with aiohttp.ClientSession() as http:
        body = {"model": "e5-up", "input": list("abcde")}
        async with http.post(f"{provider.base_url}/embeddings", json=body) as r:
            direct = [float32(d["embedding"]) for d in (await r.json())["data"]]
    assert got == direct
    assert mixed["usage"]["prompt_tokens"] == 5


async def test_whatever_changes_a_vector_misses(provider: FakeProvider, redis_server: RedisServer) -> None:
    provider.reset()
    async with gateway(provider, redis_url=redis_server.url) as gw:
        full = await gw.embed("text")
        short = await gw.embed("text", dimensions=4)
        assert len(short["data"][0]["embedding"]) == 4 and calls(provider) == [1, 1]
        await gw.embed("other text")
        assert calls(provider) == [1, 1, 1]
        # Another table: the same model name, served by other weights (another revision).
        gw.source.snapshot = table(provider, IDENTITY.model_copy(update={"revision": "beef002"}))
        await gw.embed("text")
        assert calls(provider) == [1, 1, 1, 1]
        gw.source.snapshot = table(provider)  # the first revision again: its entry is still there
        assert await gw.embed("text") == full and calls(provider) == [1, 1, 1, 1]
        # A backend that does not say what its vectors are is not cached.
        gw.source.snapshot = table(provider, identity=None)
        await gw.embed("text")
        await gw.embed("text")
        assert calls(provider) == [1, 1, 1, 1, 1, 1]


async def test_base64_is_answered_from_floats_and_floats_from_base64(
    provider: FakeProvider, redis_server: RedisServer
) -> None:
    provider.reset()
    async with gateway(provider, redis_url=redis_server.url) as gw:
        as_floats = (await gw.embed("cached as floats"))["data"][0]["embedding"]
        hit = (await gw.embed("cached as floats", encoding_format="base64"))["data"][0]["embedding"]
        assert isinstance(hit, str) and floats(hit) == as_floats
        # The provider answers base64 (the gateway passes the format on): decoded, then stored.
        as_base64 = (await gw.embed("cached as base64", encoding_format="base64"))["data"][0]["embedding"]
        hit_floats = (await gw.embed("cached as base64"))["data"][0]["embedding"]
        assert hit_floats == floats(as_base64)
        again = (await gw.embed("cached as base64", encoding_format="base64"))["data"][0]["embedding"]
        assert again == as_base64
        assert calls(provider) == [1, 1]


async def test_a_failing_redis_fails_no_request(provider: FakeProvider, redis_server: RedisServer) -> None:
    provider.reset()
    async with gateway(provider, redis_url=redis_server.url, cache_retry_seconds=0.2) as gw:
        await gw.embed("before")
        redis_server.stop()
        answers = [await gw.embed(f"while down {i}") for i in range(3)]
        assert all(len(a["data"][0]["embedding"]) == 8 for a in answers)
        assert gw.sample("vectorops_gateway_cache_errors_total") >= 1
        status = (await gw.status())["cache"]
        assert status["errors"] >= 1
        assert (await gw.embed("before")) is not None  # the in-process LRU still answers
        assert calls(provider) == [1, 1, 1, 1]


async def test_without_redis_the_in_process_lru_caches(provider: FakeProvider) -> None:
    provider.reset()
    async with gateway(provider) as gw:
        first = [d["embedding"] for d in (await gw.embed(["x", "y"]))["data"]]
        assert [d["embedding"] for d in (await gw.embed(["y", "x"]))["data"]] == first[::-1]
        assert calls(provider) == [2]
        cache = (await gw.status())["cache"]
        assert (cache["hits"], cache["redis_available"]) == (2, False)
    async with gateway(provider, cache_lru_entries=0) as off:  # no Redis and no LRU: no cache
        await off.embed("x")
        await off.embed("x")
        assert (await off.status())["cache"] is None
    assert calls(provider) == [2, 1, 1]


async def test_the_redis_password_never_reaches_a_log(
    provider: FakeProvider, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "pw-3f9a1c7e"
    with redis.Redis(port=redis_server.port) as admin:
        admin.config_set("requirepass", password)
    url = f"redis://default:{password}@127.0.0.1:{redis_server.port}/0"
    provider.reset()
    async with gateway(provider, redis_url=url) as gw:
        await gw.embed("a")
    async with gateway(provider, redis_url=url) as gw:  # the entry came back from Redis
        await gw.embed("a")
        status = await gw.status()
        async with gw.http.get(f"{gw.url}/metrics") as r:
            exposition = await r.text()
    assert calls(provider) == [1] and status["cache"]["hits"] == 1
    async with gateway(provider, redis_url=url.replace(password, "pw-wrong-55e0")) as gw:
        await gw.embed("b")  # refused by Redis: answered all the same
        assert gw.sample("vectorops_gateway_cache_errors_total") >= 1
    assert f"Redis at redis://127.0.0.1:{redis_server.port}/0" in caplog.text
    for text in (caplog.text, str(status), exposition):
        assert password not in text and "pw-wrong-55e0" not in text


def _route(identity: VectorIdentity | None = IDENTITY, model: str = "e5", digest: str | None = "d1") -> Route:
    backend = Backend(
        source="ExternalModelEndpoint/p",
        url="http://provider.example:1/v1",
        upstream_model="e5-up",
        identity=identity,
        vector_digest=digest,
    )
    return Route(model=model, capability=Capability.EMBEDDINGS, backends=(backend,))


def test_every_field_of_the_key_changes_it() -> None:
    base = cache_keys("ml", _route(), None, ["text"])
    assert base is not None and base[0].startswith("vectorops:gw:v1:")
    assert base == cache_keys("ml", _route(IDENTITY.model_copy()), None, ["text"])  # stable
    variants = [
        cache_keys("other-namespace", _route(), None, ["text"]),  # the same identity elsewhere
        cache_keys("ml", _route(model="e5-copy"), None, ["text"]),  # another route claiming it
        cache_keys("ml", _route(digest="d2"), None, ["text"]),  # e.g. another pooling or prefix
        cache_keys("ml", _route(IDENTITY.model_copy(update={"model": "fake/e5-large"})), None, ["text"]),
        cache_keys("ml", _route(IDENTITY.model_copy(update={"revision": None})), None, ["text"]),
        cache_keys("ml", _route(IDENTITY.model_copy(update={"revision": "c0ffee2"})), None, ["text"]),
        cache_keys("ml", _route(IDENTITY.model_copy(update={"dimension": 16})), None, ["text"]),
        cache_keys("ml", _route(IDENTITY.model_copy(update={"normalized": False})), None, ["text"]),
        cache_keys("ml", _route(), 4, ["text"]),
        cache_keys("ml", _route(), None, ["text "]),
        cache_keys("ml", _route(), None, [[1, 2, 3]]),
        cache_keys("ml", _route(), None, ["[1, 2, 3]"]),
        cache_keys("ml", _route(), None, ["[1,2,3]"]),
    ]
    keys = [v[0] for v in variants if v is not None]
    assert len(keys) == len(variants) and len({*keys, base[0]}) == len(keys) + 1
    assert cache_keys("ml", _route(identity=None), None, ["text"]) is None  # unknown vectors: no cache


def test_a_revision_declared_by_a_backup_backend_is_in_the_key() -> None:
    primary = (
        _route().backends[0].model_copy(update={"identity": IDENTITY.model_copy(update={"revision": None})})
    )
    backup = primary.model_copy(update={"identity": IDENTITY.model_copy(update={"revision": "c0ffee2"})})
    pinned = Route(model="e5", capability=Capability.EMBEDDINGS, backends=(primary, backup))
    unpinned = Route(model="e5", capability=Capability.EMBEDDINGS, backends=(primary,))
    assert cache_keys("ml", pinned, None, ["t"]) != cache_keys("ml", unpinned, None, ["t"])


@pytest.mark.parametrize(
    ("total", "inputs", "expected"),
    [
        (4, ["one two three", "four"], [3, 1]),
        (7, ["x"], [7]),
        (3, ["aa", "aa", "aa", "aa"], [1, 1, 1, 0]),  # ties go to the earlier inputs
        (10, [[1, 2, 3, 4], "abcdef"], [4, 6]),  # token arrays count their items
        (0, ["a", "b"], [0, 0]),
    ],
)
def test_tokens_are_apportioned_by_length_and_sum_to_the_total(
    total: int, inputs: list[Any], expected: list[int]
) -> None:
    assert apportion(total, inputs) == expected and sum(expected) == total


async def test_a_corrupt_entry_is_a_miss_answered_afresh_and_overwritten(
    provider: FakeProvider, redis_server: RedisServer
) -> None:
    provider.reset()
    snapshot = table(provider)
    (route,) = snapshot.table.routes
    (key,) = cache_keys("ml", route, None, ["garbled"]) or []
    r = redis.Redis(port=redis_server.port)
    r.set(key, b"\x01\x02")  # shorter than a token count, let alone a vector
    async with gateway(provider, redis_url=redis_server.url, cache_lru_entries=0) as gw:
        answer = await gw.embed("garbled")
        assert len(answer["data"][0]["embedding"]) == 8 and calls(provider) == [1]
        assert await gw.embed("garbled") == answer  # the fresh entry replaced the corrupt one
    assert calls(provider) == [1] and len(r.get(key) or b"") == 4 + 4 * 8
