"""Dynamic batching: texts from concurrent requests are packed into forward passes.

Fairness is per request, not per text: each batch takes texts from the waiting requests in turn, oldest
request first, so a request of one text is in the next batch even behind a request of two thousand.
Inside a request, texts go shortest first, so the batches cut from one big request are of similar
lengths. Batches are bounded by max batch size and max padded tokens, and wait at most max_wait to fill.
The model runs in one worker thread, off the event loop; while it runs, the next batch forms (the
backend then splits a batch into forward passes of similar lengths, see packing.py). The queue is
bounded: past it, QueueFull (HTTP 429). Should the loop itself fail (a bug, not a model error), every
waiting text fails with BatcherFailed (HTTP 503) and the loop starts again: it holds no state worth a
process restart, which would mean reloading the model, and nothing may wait on a dead loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vectorops.embedder.backends.base import Backend, Vectors
from vectorops.embedder.metrics import Metrics

log = logging.getLogger("vectorops.embedder")


class BatcherFailed(Exception):
    """The batching loop failed while these texts waited; it has been restarted."""


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
class _Request:
    """The texts of one call still waiting for the model, shortest first."""

    items: deque[_Item]
    enqueued: float = field(default_factory=time.monotonic)


@dataclass
class BatchLimits:
    max_batch_size: int = 64
    max_batch_tokens: int = 16384
    max_wait_s: float = 0.005
    max_queue: int = 4096


def pick_batch(requests: list[_Request], limits: BatchLimits) -> list[_Item]:
    """Take the next batch off the waiting requests (oldest first): round robin, a text from each in
    turn, within max batch size and max padded tokens. The taken texts leave their requests' queues.
    A request whose next text would break the token budget sits out the rest of this batch; the very
    first text is always taken, so an oversized text still runs (alone)."""
    batch: list[_Item] = []
    longest = 0
    active = [r for r in requests if r.items]
    while active and len(batch) < limits.max_batch_size:
        still = []
        for request in active:
            if len(batch) >= limits.max_batch_size:
                break
            item = request.items[0]
            padded = max(longest, item.tokens) * (len(batch) + 1)
            if batch and padded > limits.max_batch_tokens:
                continue  # sits out: its next text is too long for what is left
            batch.append(request.items.popleft())
            longest = max(longest, item.tokens)
            if request.items:
                still.append(request)
        active = still
    return batch


class DynamicBatcher:
    def __init__(self, backend: Backend, limits: BatchLimits, metrics: Metrics) -> None:
        self.backend, self.limits, self.metrics = backend, limits, metrics
        self._requests: list[_Request] = []
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder-forward")
        self._task: asyncio.Task[None] | None = None
        # Every caller's future until it is done, wherever its text is (queue, batch, a half-made batch):
        # what a failed loop must answer.
        self._pending: set[asyncio.Future[tuple[np.ndarray, int]]] = set()
        self._last_forward_s = 0.05

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="embedder-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for future in list(self._pending):
            future.cancel()
        self._executor.shutdown(wait=True)

    async def _supervise(self) -> None:
        while True:
            try:
                await self._run()
            except Exception as e:
                log.exception("the batching loop failed; failing the waiting requests and restarting it")
                self.metrics.batcher_restarts.inc()
                failure = BatcherFailed(
                    f"the embedder's batching loop failed ({type(e).__name__}: {e}) and was restarted; "
                    "retry the request"
                )
                for future in list(self._pending):
                    if not future.done():
                        future.set_exception(failure)
                self._requests = []
                self._set_queued(0)

    @property
    def queued(self) -> int:
        return self._queued

    def _set_queued(self, n: int) -> None:
        self._queued = n
        self.metrics.queue_depth.set(n)

    async def embed(self, texts: list[str]) -> tuple[Vectors, list[int]]:
        """Vectors and exact token counts for the texts, computed in shared forward passes."""
        if self._queued + len(texts) > self.limits.max_queue:
            batches_ahead = math.ceil(self._queued / self.limits.max_batch_size)
            raise QueueFull(max(1, math.ceil(batches_ahead * self._last_forward_s)))
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        items = [_Item(t, self.backend.estimate_tokens(t), loop.create_future(), now) for t in texts]
        request = _Request(deque(sorted(items, key=lambda i: i.tokens)), now)
        for item in items:
            self._pending.add(item.future)
            item.future.add_done_callback(self._pending.discard)
        self._requests.append(request)
        self._set_queued(self._queued + len(items))
        self._wakeup.set()
        try:
            rows = await asyncio.gather(*(i.future for i in items))
        except asyncio.CancelledError:
            # A client that went away frees its places in the queue.
            if request in self._requests:
                self._requests.remove(request)
                self._set_queued(self._queued - len(request.items))
            raise
        return np.stack([v for v, _ in rows]), [n for _, n in rows]

    async def _fill(self) -> None:
        """Wait until a full batch is waiting or the oldest request has waited max_wait."""
        deadline = self._requests[0].enqueued + self.limits.max_wait_s
        while self._queued < self.limits.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _take(self) -> list[_Item]:
        batch = pick_batch(self._requests, self.limits)
        self._requests = [r for r in self._requests if r.items]
        self._set_queued(self._queued - len(batch))
        now = time.monotonic()
        queue_seconds = self.metrics.stage_seconds.labels("queue")
        for item in batch:
            queue_seconds.observe(now - item.enqueued)
        self.metrics.batches.inc()
        self.metrics.batch_size.observe(len(batch))
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._requests:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._fill()
            batch = self._take()
            if not batch:
                continue
            started = time.monotonic()
            try:
                encoded = await loop.run_in_executor(
                    self._executor, self.backend.encode, [i.text for i in batch]
                )
            except Exception as e:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)
                continue
            self._last_forward_s = time.monotonic() - started
            self.metrics.stage_seconds.labels("tokenize").observe(encoded.tokenize_seconds)
            self.metrics.stage_seconds.labels("forward").observe(
                self._last_forward_s - encoded.tokenize_seconds
            )
            self.metrics.forward_passes.inc(len(encoded.passes))
            for _, padded in encoded.passes:
                self.metrics.batch_tokens.observe(padded)
            memory, total = self.backend.device_memory_bytes(), self.backend.device_memory_total_bytes()
            if memory is not None:
                self.metrics.device_memory.set(memory)
            if total is not None:
                self.metrics.device_memory_total.set(total)
            for item, row, n in zip(batch, encoded.vectors, encoded.tokens, strict=True):
                if not item.future.done():
                    item.future.set_result((row, n))
