"""The gateway in process, on a loopback port, called with the official openai client and plain HTTP,
routing to fault-injecting providers (real HTTP servers): routing, keys, limits, retries, failover,
breakers, splitting, streaming."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp.test_utils import TestServer

from vectorops.devtools.fake_provider import FakeProvider
from vectorops.gateway.app import create_app
from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.settings import GatewaySettings
from vectorops.gateway.snapshot import Grant, Role, Snapshot
from vectorops.gateway.source import StaticSource
from vectorops.routing.table import (
    Backend,
    Capability,
    CredentialRef,
    Policy,
    Route,
    RouteTable,
    VectorIdentity,
)

PROVIDER_KEY = "sk-provider-3c9e71"
BACKUP_KEY = "sk-backup-88a0f2"
USER_KEY = "vk-user-5f1a2b"
LIMITED_KEY = "vk-limited-0d4c7e"
READER_KEY = "vk-reader-9e3b11"
ALL_KEYS = (PROVIDER_KEY, BACKUP_KEY, USER_KEY, LIMITED_KEY, READER_KEY)
FAST = Policy(max_attempts=2, initial_backoff_s=0.0, max_backoff_s=0.01, failure_threshold=2, open_seconds=60)


@pytest.fixture(scope="module")
def primary() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up", "chat-up")) as p:
        yield p


@pytest.fixture(scope="module")
def backup() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=BACKUP_KEY, dimension=8, models=("e5-up", "chat-up")) as p:
        yield p


def backend(provider: FakeProvider, name: str, secret: str, priority: int, **extra: Any) -> Backend:
    return Backend(
        source=f"ExternalModelEndpoint/{name}",
        url=provider.base_url,
        upstream_model=extra.pop("upstream_model", "e5-up"),
        credential=CredentialRef(secret=secret, key="token"),
        priority=priority,
        policy=extra.pop("policy", FAST),
        **extra,
    )


def snapshot(primary: FakeProvider, backup: FakeProvider, **primary_extra: Any) -> Snapshot:
    identity = VectorIdentity(model="fake/e5", dimension=8, normalized=True)
    table = RouteTable(
        namespace="ml",
        routes=(
            Route(
                model="e5",
                capability=Capability.EMBEDDINGS,
                backends=(
                    backend(primary, "primary", "primary-key", 0, identity=identity, **primary_extra),
                    backend(backup, "backup", "backup-key", 10, identity=identity),
                ),
            ),
            Route(
                model="chat",
                capability=Capability.CHAT,
                backends=(
                    backend(primary, "primary", "primary-key", 0, upstream_model="chat-up"),
                    backend(backup, "backup", "backup-key", 10, upstream_model="chat-up"),
                ),
            ),
        ),
    )
    credentials = {("primary-key", "token"): PROVIDER_KEY, ("backup-key", "token"): BACKUP_KEY}
    keys = {
        USER_KEY: Grant("team-a", Role.USER, None),
        LIMITED_KEY: Grant("team-b", Role.USER, frozenset({"chat"}), requests_per_minute=2),
        READER_KEY: Grant("dashboards", Role.READONLY, None),
    }
    return Snapshot(table, credentials, keys)


@pytest.fixture
async def gateway(
    primary: FakeProvider, backup: FakeProvider
) -> AsyncIterator[tuple[str, StaticSource, GatewayMetrics]]:
    primary.reset()
    backup.reset()
    source, metrics = StaticSource(snapshot(primary, backup)), GatewayMetrics()
    settings = GatewaySettings(  # no cache: these tests count the calls that reach the providers
        namespace="ml", max_body_bytes=64 * 1024, max_inputs=16, seed=7, cache_lru_entries=0
    )
    app = create_app(settings, source, metrics)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), source, metrics
    while OPEN_CLIENTS:
        await OPEN_CLIENTS.pop().close()
    await server.close()


OPEN_CLIENTS: list[openai.AsyncOpenAI] = []


def client(url: str, key: str = USER_KEY) -> openai.AsyncOpenAI:
    # Closed by the fixture: a client left to the garbage collector closes itself at a random moment,
    # which CPython 3.11 does not survive inside ast.parse ("AST constructor recursion depth mismatch").
    made = openai.AsyncOpenAI(
        base_url=url if url.endswith("/v1") else f"{url}/v1", api_key=key, max_retries=0
    )
    OPEN_CLIENTS.append(made)
    return made


async def test_embeddings_are_routed_with_the_providers_key(gateway, primary: FakeProvider) -> None:
    url, _, _ = gateway
    result = await client(url).embeddings.create(model="e5", input=["a", "b", "c"])
    direct = await client(primary.base_url, PROVIDER_KEY).embeddings.create(
        model="e5-up", input=["a", "b", "c"]
    )
    assert result.model == "e5"
    assert [d.embedding for d in result.data] == [d.embedding for d in direct.data]
    sent = next(r for r in primary.requests if r.path == "/v1/embeddings")
    assert sent.auth == f"Bearer {PROVIDER_KEY}"  # the provider's key, not the client's


async def test_bad_requests_are_refused_with_the_reason(gateway) -> None:
    url, _, _ = gateway
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body: Any, key: str | None = USER_KEY) -> tuple[int, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            async with http.post(f"{url}{path}", json=body, headers=headers) as r:
                return r.status, await r.json()

        cases = [
            (("/v1/embeddings", {"model": "e5", "input": "x"}, None), 401, "no API key given"),
            (
                ("/v1/embeddings", {"model": "e5", "input": "x"}, "vk-unknown"),
                401,
                "a valid API key is required",
            ),
            (
                ("/v1/embeddings", {"model": "e5", "input": "x"}, LIMITED_KEY),
                403,
                "team-b may not use model `e5`",
            ),
            (("/v1/embeddings", {"model": "e5", "input": "x"}, READER_KEY), 403, "dashboards may not use"),
            (("/v1/embeddings", {"model": "nope", "input": "x"}), 404, "`nope` is not served"),
            (("/v1/embeddings", {"model": "chat", "input": "x"}), 400, "`chat` is a chat model"),
            (("/v1/embeddings", {"model": "e5", "input": []}), 400, "input must be"),
            (("/v1/embeddings", {"model": "e5", "input": ["x"] * 17}), 413, "max_inputs=16"),
            (
                ("/v1/embeddings", {"model": "e5", "input": "x", "encoding_format": "hex"}),
                400,
                "encoding_format",
            ),
            (("/v1/embeddings", {"model": "e5", "input": "x" * 70000}), 413, "max_body_bytes=65536"),
            (("/v1/chat/completions", {"model": "chat"}), 400, "messages must be"),
        ]
        for (path, body, *key), status, fragment in cases:
            got, answer = await post(path, body, *key)
            assert (got, fragment in answer["error"]["message"]) == (status, True), (status, answer)
            assert not any(k in str(answer) for k in ALL_KEYS)


async def test_a_keys_rate_limit_is_a_429_with_retry_after(gateway) -> None:
    url, _, _ = gateway
    limited = client(url, LIMITED_KEY)
    for _ in range(2):
        await limited.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as e:
        await limited.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert "requestsPerMinute=2" in str(e.value) and int(e.value.response.headers["Retry-After"]) >= 1


async def test_server_errors_fail_over_and_open_the_breaker(
    gateway, primary: FakeProvider, backup: FakeProvider
) -> None:
    url, _, metrics = gateway
    primary.fail_next(100, status=503)
    for _ in range(3):
        result = await client(url).embeddings.create(model="e5", input="x")
        assert len(result.data[0].embedding) == 8  # served by the backup
    # Two attempts on the primary for the first request (its threshold is 2): the breaker opened, and the
    # next requests went straight to the backup.
    assert primary.count("/v1/embeddings") == 2 and backup.count("/v1/embeddings") == 3
    reader = {"Authorization": f"Bearer {READER_KEY}"}
    async with aiohttp.ClientSession() as http, http.get(f"{url}/external/status", headers=reader) as r:
        status = await r.json()
    states = {(b["model"], b["backend"]): b["breaker"]["state"] for b in status["backends"]}
    assert states[("e5", "ExternalModelEndpoint/primary:e5-up")] == "open"
    # One failover: once open, the primary is tried last, so the backup is simply first.
    assert metrics.registry.get_sample_value("vectorops_gateway_failovers_total", {"route": "e5"}) == 1


async def test_retry_after_is_honoured_on_the_same_backend(
    gateway, primary: FakeProvider, backup: FakeProvider
) -> None:
    url, _, _ = gateway
    primary.rate_limit_next(1, retry_after="0")
    await client(url).embeddings.create(model="e5", input="x")
    assert primary.count("/v1/embeddings") == 2 and backup.count("/v1/embeddings") == 0


async def test_a_request_error_is_passed_back_not_failed_over(
    gateway, primary: FakeProvider, backup: FakeProvider
) -> None:
    url, _, _ = gateway
    primary.fail_next(
        1,
        status=400,
        body={"error": {"message": f"bad input (key {PROVIDER_KEY})", "type": "invalid_request_error"}},
    )
    with pytest.raises(openai.BadRequestError) as e:
        await client(url).embeddings.create(model="e5", input="x")
    assert "bad input" in str(e.value) and PROVIDER_KEY not in str(e.value)
    assert backup.count("/v1/embeddings") == 0


async def test_large_batches_are_split_and_reassembled_in_order(gateway, primary: FakeProvider) -> None:
    url, source, _ = gateway
    source.snapshot = snapshot(primary, primary, max_batch=3)
    texts = [f"text {i}" for i in range(10)]
    result = await client(url).embeddings.create(model="e5", input=texts)
    direct = await client(primary.base_url, PROVIDER_KEY).embeddings.create(model="e5-up", input=texts)
    assert [d.index for d in result.data] == list(range(10))
    assert [d.embedding for d in result.data] == [d.embedding for d in direct.data]
    assert sorted(r.inputs for r in primary.requests if r.path == "/v1/embeddings")[:4] == [1, 3, 3, 3]


async def test_streams_fail_over_before_the_first_byte_and_report_a_cut_after_it(
    gateway, primary: FakeProvider, backup: FakeProvider
) -> None:
    url, _, _ = gateway
    primary.fail_next(2, status=502)
    stream = await client(url).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "one two three four"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert "one two three four" in text and backup.count("/v1/chat/completions") == 1
    backup.break_stream_after(2)
    primary.fail_next(2, status=502)
    async with aiohttp.ClientSession() as http:
        body = {
            "model": "chat",
            "messages": [{"role": "user", "content": "one two three four"}],
            "stream": True,
        }
        async with http.post(
            f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {USER_KEY}"}
        ) as r:
            events = [e for e in (await r.read()).decode().split("\n\n") if e.strip()]
    assert "[DONE]" not in events[-1] and '"code": "stream_interrupted"' in events[-1].replace('":"', '": "')


async def test_a_new_table_is_served_at_once(gateway, primary: FakeProvider, backup: FakeProvider) -> None:
    url, source, _ = gateway
    models = await client(url).models.list()
    assert sorted(m.id for m in models.data) == ["chat", "e5"]
    table = source.snapshot.table  # type: ignore[union-attr]
    source.snapshot = Snapshot(
        table.model_copy(update={"routes": table.routes[:1]}),
        source.snapshot.credentials,
        source.snapshot.keys,  # type: ignore[union-attr]
    )
    assert [m.id for m in (await client(url).models.list()).data] == ["e5"]
    with pytest.raises(openai.NotFoundError):
        await client(url).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])


async def test_no_key_reaches_logs_or_metrics(
    gateway, caplog: pytest.LogCaptureFixture, primary: FakeProvider
) -> None:
    url, _, _ = gateway
    caplog.set_level(logging.DEBUG)
    primary.fail_next(1, status=500, body={"error": {"message": f"oops {PROVIDER_KEY}"}})
    await client(url).embeddings.create(model="e5", input="x")
    with pytest.raises(openai.AuthenticationError):
        await client(url, "vk-wrong-key-123").embeddings.create(model="e5", input="x")
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as r:
        exposition = await r.text()
    for key in (*ALL_KEYS, "vk-wrong-key-123"):
        assert key not in caplog.text and key not in exposition


async def test_the_primary_killed_under_load_loses_no_request_and_comes_back(
    gateway, primary: FakeProvider, backup: FakeProvider
) -> None:
    url, source, _ = gateway
    quick = Policy(
        max_attempts=2, initial_backoff_s=0.0, max_backoff_s=0.01, failure_threshold=2, open_seconds=0.5
    )
    source.snapshot = snapshot(primary, backup, policy=quick)
    c = client(url)
    failures: list[str] = []

    async def one(i: int) -> None:
        try:
            await c.embeddings.create(model="e5", input=f"text {i}")
        except openai.APIError as e:
            failures.append(str(e))

    await asyncio.gather(*(one(i) for i in range(40)))
    primary.down()  # connections refused from now on
    try:
        await asyncio.gather(*(one(i) for i in range(40, 120)))
    finally:
        primary.up()
    assert failures == []  # every request the policy retries or fails over was answered
    reader = {"Authorization": f"Bearer {READER_KEY}"}

    async def breaker() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/external/status", headers=reader) as r:
            status = await r.json()
        return next(
            b["breaker"]
            for b in status["backends"]
            if b["backend"] == "ExternalModelEndpoint/primary:e5-up" and b["model"] == "e5"
        )

    tripped = await breaker()
    # It opened (its open time may already have passed, making it half-open: no timing is assumed).
    assert tripped["trips"] >= 1 and tripped["state"] in ("open", "half_open")
    # The open time passes and the next request is a trial that succeeds. Trials that failed while the
    # primary was down doubled the open time (0.5 s, 1 s, 2 s...), and how many ran depends on the load.
    deadline = asyncio.get_running_loop().time() + 60
    while (await breaker())["state"] == "open":
        assert asyncio.get_running_loop().time() < deadline, "the breaker never left open"
        await asyncio.sleep(0.1)
    before = primary.count("/v1/embeddings")
    for i in range(5):
        await one(i)
    assert failures == [] and primary.count("/v1/embeddings") > before
    assert (await breaker())["state"] == "closed"
