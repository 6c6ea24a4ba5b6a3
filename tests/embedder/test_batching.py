"""Dynamic batching with the deterministic fake model: packing, fairness, bounds, failures."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.batching import BatchLimits, DynamicBatcher, QueueFull, _Item, pick_batch
from vectorops.embedder.metrics import Metrics


def items(tokens: list[int]) -> list[_Item]:
    loop = asyncio.new_event_loop()
    try:
        return [_Item(f"t{i}", n, loop.create_future(), enqueued=float(i)) for i, n in enumerate(tokens)]
    finally:
        loop.close()


def test_pick_starts_with_oldest_and_groups_by_length() -> None:
    pending = items([10, 200, 11, 199, 12, 9])
    batch = pick_batch(pending, BatchLimits(max_batch_size=3, max_batch_tokens=10_000))
    assert [i.tokens for i in batch] == [10, 11, 9]


def test_pick_respects_padded_token_budget() -> None:
    pending = items([100, 100, 100, 100])
    batch = pick_batch(pending, BatchLimits(max_batch_size=64, max_batch_tokens=250))
    assert len(batch) == 2  # 3 x 100 padded tokens would exceed 250


def test_an_oversized_oldest_item_still_runs_alone() -> None:
    pending = items([500, 10])
    assert [i.tokens for i in pick_batch(pending, BatchLimits(max_batch_tokens=100))] == [500]


async def test_concurrent_requests_share_forward_passes() -> None:
    backend = FakeBackend(seconds_per_batch=0.01)
    batcher = DynamicBatcher(backend, BatchLimits(max_batch_size=16, max_wait_s=0.02), Metrics())
    await batcher.start()
    try:
        results = await asyncio.gather(*(batcher.embed([f"text {i}"]) for i in range(48)))
    finally:
        await batcher.stop()
    assert len(backend.batches) <= 6  # 48 single-text requests in a handful of passes
    assert max(len(b) for b in backend.batches) == 16
    expected = backend.encode(["text 7"])[0][0]
    assert np.allclose(results[7][0][0], expected)
    assert results[7][1] == [4]


async def test_queue_full_gives_retry_after() -> None:
    backend = FakeBackend(seconds_per_batch=0.2)
    batcher = DynamicBatcher(backend, BatchLimits(max_batch_size=2, max_queue=4), Metrics())
    await batcher.start()
    try:
        first = asyncio.create_task(batcher.embed(["a", "b", "c", "d"]))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull) as e:
            await batcher.embed(["e"])
        assert e.value.retry_after >= 1
        await first
    finally:
        await batcher.stop()


async def test_model_failure_fails_only_that_batch() -> None:
    class Flaky(FakeBackend):
        def encode(self, texts):
            if "boom" in texts:
                raise RuntimeError("CUDA out of memory")
            return super().encode(texts)

    batcher = DynamicBatcher(Flaky(), BatchLimits(max_batch_size=1), Metrics())
    await batcher.start()
    try:
        with pytest.raises(RuntimeError, match="out of memory"):
            await batcher.embed(["boom"])
        assert (await batcher.embed(["fine"]))[0].shape == (1, 8)
    finally:
        await batcher.stop()
