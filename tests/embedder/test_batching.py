"""Dynamic batching with the deterministic fake model: packing, fairness, bounds, failures."""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np
import pytest

from vectorops.embedder.backends.fake import FakeBackend
from vectorops.embedder.batching import (
    BatchLimits,
    DynamicBatcher,
    QueueFull,
    _Item,
    _Request,
    pick_batch,
)
from vectorops.embedder.metrics import Metrics


def request(tokens: list[int], at: float = 0.0) -> _Request:
    loop = asyncio.new_event_loop()
    try:
        made = [_Item(f"t{at}-{i}", n, loop.create_future(), enqueued=at) for i, n in enumerate(tokens)]
    finally:
        loop.close()
    return _Request(deque(sorted(made, key=lambda i: i.tokens)), at)


def test_pick_takes_from_every_request_in_turn_oldest_first() -> None:
    big, small, other = request([10] * 500, 0), request([40], 1), request([12, 11], 2)
    batch = pick_batch([big, small, other], BatchLimits(max_batch_size=6, max_batch_tokens=10_000))
    assert [i.text.split("-")[0] for i in batch] == ["t0", "t1", "t2", "t0", "t2", "t0"]
    assert len(big.items) == 497 and not small.items and not other.items


def test_pick_respects_padded_token_budget() -> None:
    batch = pick_batch([request([100] * 4)], BatchLimits(max_batch_size=64, max_batch_tokens=250))
    assert len(batch) == 2  # 3 x 100 padded tokens would exceed 250


def test_an_oversized_oldest_item_still_runs_alone() -> None:
    pending = [request([500]), request([10], 1)]
    assert [i.tokens for i in pick_batch(pending, BatchLimits(max_batch_tokens=100))] == [500]


def test_a_request_over_budget_sits_out_but_others_fill_the_batch() -> None:
    pending = [request([10], 0), request([90], 1), request([10, 10], 2)]
    batch = pick_batch(pending, BatchLimits(max_batch_size=8, max_batch_tokens=60))
    assert [i.tokens for i in batch] == [10, 10, 10]
    assert len(pending[1].items) == 1


async def test_a_small_request_is_not_stuck_behind_a_huge_one() -> None:
    backend = FakeBackend(seconds_per_batch=0.02)
    batcher = DynamicBatcher(backend, BatchLimits(max_batch_size=8, max_wait_s=0.001), Metrics())
    await batcher.start()
    try:
        huge = asyncio.create_task(batcher.embed([f"bulk {i}" for i in range(400)]))
        await asyncio.sleep(0.03)  # the huge request is being worked through
        await batcher.embed(["a late small request"])
        assert not huge.done()  # the small one finished first
        passes_before_small = next(k for k, b in enumerate(backend.batches) if "a late small request" in b)
        assert passes_before_small <= 3
        vectors, _ = await huge
        assert vectors.shape == (400, 8)
    finally:
        await batcher.stop()


async def test_results_come_back_in_request_order_whatever_the_lengths() -> None:
    backend = FakeBackend()
    batcher = DynamicBatcher(backend, BatchLimits(max_batch_size=3), Metrics())
    await batcher.start()
    try:
        texts = ["a b c d e f g", "x", "p q r", "one two", "long " * 20]
        vectors, tokens = await batcher.embed(texts)
    finally:
        await batcher.stop()
    expected = backend.encode(texts)
    assert np.allclose(vectors, expected.vectors) and tokens == expected.tokens


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
