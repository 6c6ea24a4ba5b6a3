"""Failing loudly: a model that cannot load, a batching loop that dies, a model that raises. Every
request gets an answer that says what happened, and it is counted; nothing waits forever."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.embedder.promtext import sample
from vectorops.devtools.controlplane import free_port
from vectorops.embedder import batching
from vectorops.embedder.app import create_app
from vectorops.embedder.backends.base import Backend, Encoded
from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.batching import BatcherFailed, BatchLimits, DynamicBatcher
from vectorops.embedder.metrics import Metrics
from vectorops.embedder.settings import EmbedderSettings

MODEL = "fake-model"


async def started(factory: Callable[[EmbedderSettings], Backend], ready: bool = True) -> TestClient:
    client = TestClient(TestServer(create_app(EmbedderSettings(model=MODEL), factory)))
    await client.start_server()
    for _ in range(500):
        if not ready or (await client.get("/readyz")).status == 200:
            break
        await asyncio.sleep(0.01)
    return client


async def embed(client: TestClient, texts: list[str]):
    # Bounded: a request that hangs is the failure these tests are about.
    return await asyncio.wait_for(client.post("/v1/embeddings", json={"model": MODEL, "input": texts}), 5)


def fail_next_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batching loop raises once, as a bug in it would, then works again."""
    real = batching.pick_batch
    calls = {"n": 0}

    def pick(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault in pick_batch")
        return real(*args, **kwargs)

    monkeypatch.setattr(batching, "pick_batch", pick)


# -- a model that cannot be loaded ------------------------------------------------------------------


@pytest.fixture
async def unloadable() -> AsyncIterator[TestClient]:
    def factory(_: EmbedderSettings) -> Backend:
        raise FileNotFoundError("Path /models/minilm not found")

    client = await started(factory, ready=False)
    yield client
    await client.close()


async def test_a_failed_load_is_a_503_that_says_why_not_loading_forever(unloadable: TestClient) -> None:
    for _ in range(200):
        ready = await unloadable.get("/readyz")
        text = await ready.text()
        if "not found" in text:
            break
        await asyncio.sleep(0.01)
    assert ready.status == 503
    assert "FileNotFoundError: Path /models/minilm not found" in text
    resp = await embed(unloadable, ["x"])
    assert resp.status == 503 and "Retry-After" not in resp.headers  # retrying will not help
    error = (await resp.json())["error"]
    assert error["type"] == "server_error"
    assert "could not be loaded" in error["message"] and "Path /models/minilm not found" in error["message"]
    assert (await unloadable.get("/healthz")).status == 200


def test_the_process_exits_non_zero_and_says_why_when_the_model_cannot_load(tmp_path) -> None:
    missing = str(tmp_path / "no-such-model")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "VECTOROPS_EMBEDDER_MODEL": missing,
        "VECTOROPS_EMBEDDER_HOST": "127.0.0.1",
        "VECTOROPS_EMBEDDER_PORT": str(free_port()),
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vectorops.cli", "embedder"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,  # importing torch is most of it
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"the embedder kept running without a model:\n{e.stderr}") from None
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "could not be loaded" in output and missing in output, output[-3000:]


# -- the batching loop dies -------------------------------------------------------------------------


async def test_a_dead_batching_loop_fails_the_waiting_texts_and_restarts(monkeypatch) -> None:
    metrics = Metrics()
    batcher = DynamicBatcher(FakeBackend(), BatchLimits(max_batch_size=4), metrics)
    await batcher.start()
    try:
        fail_next_pick(monkeypatch)
        with pytest.raises(BatcherFailed, match="RuntimeError: injected fault in pick_batch"):
            await asyncio.wait_for(batcher.embed(["a", "b"]), 5)
        assert batcher.queued == 0
        vectors, _ = await asyncio.wait_for(batcher.embed(["c"]), 5)  # the loop runs again
        assert vectors.shape == (1, 8)
        assert metrics.registry.get_sample_value("vectorops_embedder_batcher_restarts_total") == 1
    finally:
        await batcher.stop()


async def test_a_dead_batching_loop_is_a_503_naming_it_and_the_next_request_is_served(monkeypatch) -> None:
    client = await started(lambda _: FakeBackend())
    try:
        fail_next_pick(monkeypatch)
        resp = await embed(client, ["a", "b"])
        assert resp.status == 503
        error = (await resp.json())["error"]
        assert error["type"] == "server_error"
        assert "batching loop failed" in error["message"] and "injected fault" in error["message"]
        assert (await embed(client, ["a", "b"])).status == 200
        text = await (await client.get("/metrics")).text()
        assert sample(text, "vectorops_embedder_requests_total", status="503") == 1
        assert sample(text, "vectorops_embedder_queue_depth") == 0
    finally:
        await client.close()


# -- the model raises -------------------------------------------------------------------------------


class Broken(FakeBackend):
    """Warms up, then every forward pass fails."""

    def encode(self, texts: list[str]) -> Encoded:
        if texts != ["warm-up"]:
            raise RuntimeError("CUDA error: device-side assert triggered")
        return super().encode(texts)


async def test_an_unexpected_error_is_an_openai_shaped_500_and_is_counted() -> None:
    client = await started(lambda _: Broken())
    try:
        resp = await embed(client, ["x"])
        assert resp.status == 500
        error = (await resp.json())["error"]
        assert error["type"] == "server_error" and "device-side assert" in error["message"]
        text = await (await client.get("/metrics")).text()
        assert sample(text, "vectorops_embedder_requests_total", status="500") == 1
        assert sample(text, "vectorops_embedder_request_duration_seconds_count") == 1
    finally:
        await client.close()


async def test_a_body_over_the_size_limit_is_an_openai_shaped_413_and_is_counted() -> None:
    client = await started(lambda _: FakeBackend())
    try:
        body = io.BytesIO(b'{"model": "fake-model", "input": "' + b"x" * (33 * 1024 * 1024) + b'"}')
        resp = await client.post("/v1/embeddings", data=body, headers={"Content-Type": "application/json"})
        assert resp.status == 413
        assert "Maximum request body size" in (await resp.json())["error"]["message"]
        text = await (await client.get("/metrics")).text()
        assert sample(text, "vectorops_embedder_requests_total", status="413") == 1
    finally:
        await client.close()
