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
        self._slots = asyncio.Semaphore(max_concurrent)
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}  # passes holding or awaiting each lock: locks die with the last

    def busy(self, key: str) -> bool:
        """A pass of this object is running or queued."""
        return self._waiting.get(key, 0) > 0

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                yield
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key], self._locks[key]
