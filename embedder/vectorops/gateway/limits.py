"""Per-key rate limits: requests per minute and tokens per minute, as token buckets. A request is
refused (429 with Retry-After) when its key's request bucket is empty or its token bucket is in debt;
tokens are charged once the answer says how many were used."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vectorops.gateway.snapshot import Grant


@dataclass
class _Bucket:
    capacity: float
    level: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.capacity / 60.0
        self.level = min(self.capacity, self.level + (now - self.updated) * rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` is available (0 when it is)."""
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing / (self.capacity / 60.0)


@dataclass
class KeyLimiter:
    clock: Callable[[], float] = time.monotonic
    _requests: dict[str, _Bucket] = field(default_factory=dict)
    _tokens: dict[str, _Bucket] = field(default_factory=dict)

    def _bucket(self, book: dict[str, _Bucket], name: str, capacity: int) -> _Bucket:
        bucket = book.get(name)
        if bucket is None or bucket.capacity != capacity:
            bucket = book[name] = _Bucket(float(capacity), float(capacity), self.clock())
        bucket.refill(self.clock())
        return bucket

    def admit(self, grant: Grant) -> int | None:
        """None when the request may go; else the seconds to wait (for Retry-After)."""
        waits = []
        if grant.tokens_per_minute:
            tokens = self._bucket(self._tokens, grant.name, grant.tokens_per_minute)
            if tokens.level < 0:
                waits.append(tokens.wait_for(0))
        if grant.requests_per_minute:
            requests = self._bucket(self._requests, grant.name, grant.requests_per_minute)
            if requests.level < 1:
                waits.append(requests.wait_for(1))
            elif not waits:
                requests.level -= 1
        return max(1, math.ceil(max(waits))) if waits else None

    def charge(self, grant: Grant, tokens: int) -> None:
        if grant.tokens_per_minute and tokens > 0:
            self._bucket(self._tokens, grant.name, grant.tokens_per_minute).level -= tokens
