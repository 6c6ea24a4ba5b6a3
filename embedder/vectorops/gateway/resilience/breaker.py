"""A circuit breaker per backend, in the spirit of Envoy's outlier detection, with a real half-open state.

closed --failure_threshold consecutive failures--> open --open time passed--> half-open
half-open --a trial succeeds--> closed;  half-open --a trial fails--> open again, for longer

Growth: each trip opens for twice as long as the one before (open_seconds the first time), capped at
max_open_seconds. Every full max_open_seconds the breaker then stays closed takes one doubling off the
next trip's open time, down to open_seconds (Envoy decrements its ejection multiplier the same way
while a host stays healthy). A trial success alone does not forget: a flapping host (a trial passes,
it fails again a minute later) keeps its long ejection instead of being hammered every open_seconds,
while a host that stays healthy earns the doublings back, so a blip long after an outage starts near
open_seconds again.

One breaker serves one event loop (nothing here awaits, so no call interleaves with another); it is not
meant to be shared between threads.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from vectorops.routing.report import BreakerState  # the status contract's


@dataclass(frozen=True)
class BreakerSnapshot:
    """What the status API shows of one breaker."""

    state: BreakerState
    consecutive_failures: int
    trips: int  # times it opened since it was made (a counter, never reset)
    open_until: float | None  # clock value while open, else None
    last_error: str | None
    next_open_seconds: float  # how long the next trip would open it: the growth in effect now


@dataclass(eq=False, slots=True)
class Permit:
    """Leave to send one request. Settle it exactly once: record_success, record_failure or release
    (the request was cancelled). Later calls on a settled permit are ignored."""

    trial: bool  # admitted by a half-open breaker: its outcome decides the state
    epoch: int  # the breaker's state period it was issued in; outcomes from older periods are stale
    settled: bool = False


def counts_as_failure(status: int | None, error: BaseException | None) -> bool:
    """Whether an outcome says the backend is unhealthy: connection errors, timeouts and 5xx.

    A 4xx is the host answering deliberately, so it never counts, even when a client library raised an
    exception for it: 429 means this key is rate limited, not that the host is down (LiteLLM's rule);
    408 means our request was slow to arrive, and the retry policy handles it. A cancellation (the
    caller gave up) says nothing about the host. An error after a 2xx (a stream cut mid-body) counts.
    """
    if status is not None and 400 <= status < 500:
        return False
    if error is not None:
        return isinstance(error, Exception) and not isinstance(error, asyncio.CancelledError)
    return status is not None and status >= 500


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 5,
        open_seconds: float = 30.0,
        max_open_seconds: float = 300.0,
        half_open_trials: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or half_open_trials < 1:
            raise ValueError("failure_threshold and half_open_trials must be at least 1")
        if not 0 < open_seconds <= max_open_seconds:
            raise ValueError("need 0 < open_seconds <= max_open_seconds")
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self.max_open_seconds = max_open_seconds
        self.half_open_trials = half_open_trials
        self._clock = clock
        # The step at which the open time reaches the cap: growing further would only slow the decay.
        self._max_level = 1 + math.ceil(math.log2(max_open_seconds / open_seconds))
        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._failures = 0
        self._trips = 0
        self._level = 0  # growth step of the last trip; decays while closed
        self._closed_at = clock()
        self._open_until = 0.0
        self._trials_in_flight = 0
        self._last_error: str | None = None

    # -- reading --------------------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        self._refresh()
        return self._state

    @property
    def open_until(self) -> float | None:
        """When an open breaker will admit a trial; None unless it is open."""
        self._refresh()
        return self._open_until if self._state is BreakerState.OPEN else None

    def available(self) -> bool:
        """Whether acquire() would admit a request now (without taking a trial slot)."""
        self._refresh()
        if self._state is BreakerState.HALF_OPEN:
            return self._trials_in_flight < self.half_open_trials
        return self._state is BreakerState.CLOSED

    def snapshot(self) -> BreakerSnapshot:
        self._refresh()
        return BreakerSnapshot(
            state=self._state,
            consecutive_failures=self._failures,
            trips=self._trips,
            open_until=self._open_until if self._state is BreakerState.OPEN else None,
            last_error=self._last_error,
            next_open_seconds=self._open_time(self._next_level(self._clock())),
        )

    # -- using ----------------------------------------------------------------------------------------
    def acquire(self) -> Permit | None:
        """A permit to send one request, or None: open, or half-open with every trial slot taken."""
        self._refresh()
        if self._state is BreakerState.CLOSED:
            return Permit(trial=False, epoch=self._epoch)
        if self._state is BreakerState.HALF_OPEN and self._trials_in_flight < self.half_open_trials:
            self._trials_in_flight += 1
            return Permit(trial=True, epoch=self._epoch)
        return None

    def record_success(self, permit: Permit) -> None:
        if not self._settle(permit):
            return
        self._failures = 0
        if permit.trial:
            self._enter(BreakerState.CLOSED)
            self._closed_at = self._clock()

    def record_failure(self, permit: Permit, error: str | None = None) -> None:
        """Count a failure (decide with counts_as_failure); error is kept for the status API."""
        if error is not None:
            self._last_error = error  # even from a stale permit: it is still the latest error seen
        if not self._settle(permit):
            return
        self._failures += 1
        if permit.trial or self._failures >= self.failure_threshold:
            self._trip()

    def release(self, permit: Permit) -> None:
        """Give a permit back without an outcome (the request was cancelled, or not sent after all)."""
        self._settle(permit)

    # -- internals ------------------------------------------------------------------------------------
    def _settle(self, permit: Permit) -> bool:
        """Settle a permit; True when its outcome is current and must be applied."""
        if permit.settled:
            return False
        permit.settled = True
        self._refresh()
        if permit.epoch != self._epoch:
            # Issued before the last transition: e.g. a request sent while closed that fails after
            # the breaker opened is the same outage, already counted.
            return False
        if permit.trial:
            self._trials_in_flight -= 1
        return True

    def _refresh(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            self._enter(BreakerState.HALF_OPEN)

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        self._epoch += 1  # permits of the previous period go stale
        self._trials_in_flight = 0

    def _next_level(self, now: float) -> int:
        """The growth step of the next trip: one doubling more than the last, one less for each full
        max_open_seconds closed since, never below the first step."""
        level = min(self._level + 1, self._max_level)
        if self._state is BreakerState.CLOSED:
            level -= int((now - self._closed_at) // self.max_open_seconds)
        return max(level, 1)

    def _open_time(self, level: int) -> float:
        return min(self.open_seconds * 2.0 ** (level - 1), self.max_open_seconds)

    def _trip(self) -> None:
        now = self._clock()
        self._level = self._next_level(now)
        self._trips += 1
        self._open_until = now + self._open_time(self._level)
        self._enter(BreakerState.OPEN)
