"""Dynamic batching: texts from concurrent requests are packed into forward passes.

A batch always starts with the oldest waiting text (so nothing starves), then takes the waiting texts
closest to it in length (so padding stays small), within max batch size and max padded tokens. It
waits at most max_wait for a batch to fill. The model runs in one worker thread, off the event loop;
while it runs, the next batch forms. The queue is bounded: past it, QueueFull (HTTP 429).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vectorops.embedder.backends.base import Backend, Vectors
from vectorops.embedder.metrics import Metrics


class QueueFull(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the embedder queue is full; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass
class _Item:
    text: str
    tokens: int
    future: asyncio.Future[tuple[np.ndarray, int]]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class BatchLimits:
    max_batch_size: int = 64
    max_batch_tokens: int = 16384
    max_wait_s: float = 0.005
    max_queue: int = 4096


def pick_batch(pending: list[_Item], limits: BatchLimits) -> list[_Item]:
    """Choose the next batch: the oldest item, then the closest in length, within the limits."""
    anchor = pending[0]
    window = pending[: 8 * limits.max_batch_size]
    ranked = sorted(window[1:], key=lambda it: abs(it.tokens - anchor.tokens))
    batch, longest = [anchor], anchor.tokens
    for item in ranked:
        if len(batch) >= limits.max_batch_size:
            break
        padded = max(longest, item.tokens) * (len(batch) + 1)
        if padded > limits.max_batch_tokens:
            continue
        batch.append(item)
        longest = max(longest, item.tokens)
    return batch


class DynamicBatcher:
    def __init__(self, backend: Backend, limits: BatchLimits, metrics: Metrics) -> None:
        self.backend, self.limits, self.metrics = backend, limits, metrics
        self._pending: list[_Item] = []
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-forward")
        self._task: asyncio.Task[None] | None = None
        self._last_forward_s = 0.05

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="embedder-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for item in self._pending:
            if not item.future.done():
                item.future.cancel()
        self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        return len(self._pending)

    async def embed(self, texts: list[str]) -> tuple[Vectors, list[int]]:
        """Vectors and exact token counts for the texts, computed in shared forward passes."""
        if len(self._pending) + len(texts) > self.limits.max_queue:
            batches_ahead = math.ceil(len(self._pending) / self.limits.max_batch_size)
            raise QueueFull(max(1, math.ceil(batches_ahead * self._last_forward_s)))
        loop = asyncio.get_running_loop()
        items = [_Item(t, self.backend.estimate_tokens(t), loop.create_future()) for t in texts]
        self._pending.extend(items)
        self.metrics.queue_depth.set(len(self._pending))
        self._wakeup.set()
        try:
            rows = await asyncio.gather(*(i.future for i in items))
        except asyncio.CancelledError:
            for i in items:  # a client that went away frees its places in the queue
                if i in self._pending:
                    self._pending.remove(i)
            raise
        return np.stack([v for v, _ in rows]), [n for _, n in rows]

    async def _fill(self) -> None:
        """Wait until a full batch is waiting or the oldest text has waited max_wait."""
        deadline = self._pending[0].enqueued + self.limits.max_wait_s
        while len(self._pending) < self.limits.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._fill()
            batch = pick_batch(self._pending, self.limits)
            taken = {id(i) for i in batch}
            self._pending = [i for i in self._pending if id(i) not in taken]
            self.metrics.queue_depth.set(len(self._pending))
            batch.sort(key=lambda i: i.tokens)
            now = time.monotonic()
            for item in batch:
                self.metrics.stage_seconds.labels("queue").observe(now - item.enqueued)
            self.metrics.batches.inc()
            self.metrics.batch_size.observe(len(batch))
            self.metrics.batch_tokens.observe(batch[-1].tokens * len(batch))  # estimated padded tokens
            started = time.monotonic()
            try:
                vectors, counts = await loop.run_in_executor(
                    self._executor, self.backend.encode, [i.text for i in batch]
                )
            except Exception as e:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
                continue
            self._last_forward_s = time.monotonic() - started
            self.metrics.stage_seconds.labels("forward").observe(self._last_forward_s)
            memory = self.backend.device_memory_bytes()
            if memory is not None:
                self.metrics.device_memory.set(memory)
            for item, row, n in zip(batch, vectors, counts, strict=True):
                if not item.future.done():
                    item.future.set_result((row, n))
