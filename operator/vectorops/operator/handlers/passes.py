"""One reconcile pass per object at a time, and at most N passes at once across all objects.

kopf runs an object's change handlers one after another, but its timers run beside them, and neither
is bounded by anything that suits async handlers; so every pass (change, resync, deletion) goes
through this gate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PassGate:
    def __init__(self, max_concurrent: int) -> None:
        self._limit = max_concurrent
        self._slots = asyncio.Semaphore(max_concurrent)
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}  # passes holding or awaiting each lock: locks die with the last
        self._running = 0
        self._queued = 0

    @property
    def limit(self) -> int:
        """Passes that may run at once."""
        return self._limit

    @property
    def running(self) -> int:
        """Passes holding a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Passes waiting for a slot, or for the running pass of their object."""
        return self._queued

    def busy(self, key: str) -> bool:
        """A pass of this object is running or queued."""
        return self._waiting.get(key, 0) > 0

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        self._queued += 1
        entered = False
        try:
            async with lock, self._slots:
                self._queued -= 1
                self._running += 1
                entered = True
                yield
        finally:
            if entered:
                self._running -= 1
            else:
                self._queued -= 1  # cancelled while waiting
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key], self._locks[key]
