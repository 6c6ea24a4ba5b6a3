"""Trying a route's backends: in priority order (weighted within a priority), with retries and jittered
backoff per backend, a circuit breaker per backend, and failover to the next.

- Retried on the same backend: no answer (connection error, timeout), 408, 429 (after its Retry-After,
  if the policy's backoff allows it; longer means fail over) and 5xx, up to the policy's attempts.
- Failed over without retrying: 401, 403, 404 (this backend's key or model is wrong; another's may be
  right).
- Returned to the client at once: any other 4xx (the request itself is wrong everywhere).
- Every backend open: they are tried anyway, the one whose open time ends first first; the last
  backend is never silently skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from vectorops.gateway.metrics import GatewayMetrics
from vectorops.gateway.resilience import (
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    counts_as_failure,
    order_backends,
)
from vectorops.gateway.snapshot import Snapshot
from vectorops.gateway.upstream import UpstreamError
from vectorops.routing.table import Backend, Policy, Route

T = TypeVar("T")
log = logging.getLogger("vectorops.gateway")
FAIL_OVER_STATUSES = frozenset({401, 403, 404})
MAX_OPEN_SECONDS = 300.0


def backend_key(backend: Backend) -> str:
    """A backend's name in breakers, metrics and the status API (never a credential)."""
    return f"{backend.source}:{backend.upstream_model}"


@dataclass
class Breakers:
    """A breaker per backend, kept across route tables while the backend's policy is unchanged."""

    clock: Callable[[], float] = time.monotonic
    _by_key: dict[str, tuple[object, CircuitBreaker]] = field(default_factory=dict)

    def of(self, backend: Backend) -> CircuitBreaker:
        key, policy = backend_key(backend), backend.policy
        known = self._by_key.get(key)
        if known is None or (known[0] is not policy and known[0] != policy):
            breaker = CircuitBreaker(
                failure_threshold=policy.failure_threshold,
                open_seconds=policy.open_seconds,
                max_open_seconds=max(policy.open_seconds, MAX_OPEN_SECONDS),
                clock=self.clock,
            )
            self._by_key[key] = (policy, breaker)
            return breaker
        return known[1]

    def items(self) -> list[tuple[str, CircuitBreaker]]:
        return [(key, breaker) for key, (_, breaker) in sorted(self._by_key.items())]


class NoBackendLeft(Exception):
    """Every backend failed; `last` is the failure the client is told about."""

    def __init__(self, route: str, last: UpstreamError | None, tried: int) -> None:
        super().__init__(route)
        self.route, self.last, self.tried = route, last, tried


@dataclass
class Dispatcher:
    breakers: Breakers
    metrics: GatewayMetrics
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _policies: dict[Policy, RetryPolicy] = field(default_factory=dict)  # policies are frozen, hashable

    def order(self, route: Route) -> list[Backend]:
        if len(route.backends) == 1:  # the common case: nothing to order
            return list(route.backends)
        return order_backends(
            list(route.backends),
            priority=lambda b: b.priority,
            weight=lambda b: b.weight,
            is_open=lambda b: self.breakers.of(b).state is BreakerState.OPEN,
            rng=self.rng,
            open_until=lambda b: self.breakers.of(b).open_until or 0.0,
        )

    async def call(
        self,
        route: Route,
        snapshot: Snapshot,
        attempt: Callable[[Backend, dict[str, str]], Awaitable[T]],
    ) -> tuple[T, Backend]:
        """The first answer any backend gives, and the backend that gave it."""
        last: UpstreamError | None = None
        backends = self.order(route)
        for position, backend in enumerate(backends):
            if position > 0:
                self.metrics.failovers.labels(route.model).inc()
            headers = snapshot.auth_headers(backend)
            if headers is None:
                last = UpstreamError(None, f"{backend.source}: its credential Secret is missing")
                continue
            try:
                return await self._on_backend(route, backend, headers, attempt), backend
            except UpstreamError as e:
                last = e
                if (
                    e.status is not None
                    and 400 <= e.status < 500
                    and e.status not in FAIL_OVER_STATUSES | {408, 429}
                ):
                    raise  # the request is wrong: every backend would say so
        raise NoBackendLeft(route.model, last, len(backends))

    async def _on_backend(
        self,
        route: Route,
        backend: Backend,
        headers: dict[str, str],
        attempt: Callable[[Backend, dict[str, str]], Awaitable[T]],
    ) -> T:
        breaker, key = self.breakers.of(backend), backend_key(backend)
        policy = self._policy(backend)
        number = 1
        while True:
            permit = breaker.acquire()  # None while open: tried anyway, untracked (see the module's rule)
            started = time.perf_counter()
            try:
                result = await attempt(backend, headers)
            except UpstreamError as e:
                self._observe(route, key, started, "error" if e.status is None else str(e.status))
                if permit is not None:
                    if counts_as_failure(e.status, e.cause):
                        breaker.record_failure(permit, e.message)
                    else:
                        breaker.record_success(permit)  # it answered: a 4xx is not an outage
                if not policy.retryable(e.status, e.cause) or not policy.can_retry(number):
                    raise
                backoff = policy.delay(number, e.retry_after)
                if backoff.fail_over:
                    raise
                self.metrics.retries.labels(route.model, key).inc()
                await self.sleep(backoff.seconds)
                number += 1
                continue
            except BaseException:
                if permit is not None:
                    breaker.release(permit)  # cancelled: no outcome to record
                raise
            self._observe(route, key, started, "ok")
            if permit is not None:
                breaker.record_success(permit)
            return result

    def _policy(self, backend: Backend) -> RetryPolicy:
        policy = self._policies.get(backend.policy)
        if policy is None:
            p = backend.policy
            policy = self._policies[p] = RetryPolicy(
                p.max_attempts, p.initial_backoff_s, p.max_backoff_s, self.rng
            )
        return policy

    def _observe(self, route: Route, key: str, started: float, outcome: str) -> None:
        m = self.metrics
        m.child(m.upstream_requests, route.model, key, outcome).inc()
        m.child(m.upstream_seconds, route.model, key).observe(time.perf_counter() - started)
