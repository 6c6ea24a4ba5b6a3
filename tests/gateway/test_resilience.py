"""Circuit breaker, retry policy and backend order: pure, with an injected clock and seeded generators."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorops.gateway.resilience import (
    BreakerState,
    CircuitBreaker,
    Permit,
    RetryPolicy,
    counts_as_failure,
    is_retryable,
    order_backends,
    parse_retry_after,
    weighted_permutation,
)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def breaker(clock: Clock, **kwargs: float) -> CircuitBreaker:
    settings_ = {"failure_threshold": 3, "open_seconds": 10.0, "max_open_seconds": 80.0} | kwargs
    return CircuitBreaker(clock=clock, **settings_)  # type: ignore[arg-type]


def state(b: CircuitBreaker) -> BreakerState:
    return b.state  # a call, so that a type checker does not narrow the property between asserts


def fail(b: CircuitBreaker, times: int = 1, error: str | None = None) -> None:
    for _ in range(times):
        permit = b.acquire()
        assert permit is not None
        b.record_failure(permit, error)


def succeed(b: CircuitBreaker) -> None:
    permit = b.acquire()
    assert permit is not None
    b.record_success(permit)


def trip_and_wait(b: CircuitBreaker, clock: Clock) -> float:
    """Open a closed breaker; return the open time it got and move the clock past it."""
    fail(b, b.failure_threshold)
    until = b.open_until
    assert until is not None
    seconds = until - clock.now
    clock.advance(seconds)
    return seconds


# -- what counts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (504, None, True),
        (None, ConnectionResetError(), True),
        (None, TimeoutError(), True),
        (None, OSError("connect refused"), True),
        (200, ConnectionResetError("stream cut"), True),  # a body cut after the headers
        (429, None, False),  # a rate-limited key, not a down host
        (429, RuntimeError("RateLimitError raised by a client"), False),
        (408, None, False),
        (400, None, False),
        (401, None, False),
        (404, None, False),
        (200, None, False),
        (None, None, False),
        (None, asyncio.CancelledError(), False),  # the caller gave up
    ],
)
def test_counts_as_failure(status: int | None, error: BaseException | None, expected: bool) -> None:
    assert counts_as_failure(status, error) is expected


# -- circuit breaker -----------------------------------------------------------------------------------
def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = breaker(clock)
    fail(b, 2)
    succeed(b)  # breaks the streak
    fail(b, 2)
    assert state(b) is BreakerState.CLOSED
    fail(b)
    assert state(b) is BreakerState.OPEN
    assert b.acquire() is None
    assert not b.available()
    assert b.open_until == clock.now + 10.0


def test_half_open_after_open_time_admits_limited_trials() -> None:
    clock = Clock()
    b = breaker(clock, half_open_trials=2)
    fail(b, 3)
    clock.advance(9.999)
    assert state(b) is BreakerState.OPEN
    clock.advance(0.001)
    assert state(b) is BreakerState.HALF_OPEN
    first, second = b.acquire(), b.acquire()
    assert first is not None and first.trial
    assert second is not None and second.trial
    assert b.acquire() is None
    assert not b.available()


def test_trial_success_closes() -> None:
    clock = Clock()
    b = breaker(clock)
    trip_and_wait(b, clock)
    trial = b.acquire()
    assert trial is not None
    b.record_success(trial)
    snap = b.snapshot()
    assert snap.state is BreakerState.CLOSED
    assert snap.consecutive_failures == 0
    assert snap.open_until is None
    assert b.acquire() is not None


def test_trial_failure_reopens_with_doubled_time_up_to_the_cap() -> None:
    clock = Clock()
    b = breaker(clock)  # 10 s first, capped at 80 s
    assert trip_and_wait(b, clock) == 10.0
    seen = []
    for _ in range(5):
        trial = b.acquire()
        assert trial is not None and trial.trial
        b.record_failure(trial, "connect refused")  # a trial failure re-opens at once
        until = b.open_until
        assert until is not None
        seen.append(until - clock.now)
        clock.advance(until - clock.now)
    assert seen == [20.0, 40.0, 80.0, 80.0, 80.0]
    assert b.snapshot().trips == 6


def test_flapping_host_keeps_its_long_open_time() -> None:
    clock = Clock()
    b = breaker(clock)
    assert trip_and_wait(b, clock) == 10.0
    opened = []
    for _ in range(3):
        succeed(b)  # the trial passes and closes it...
        clock.advance(5.0)  # ...but the host fails again soon after
        opened.append(trip_and_wait(b, clock))
    assert opened == [20.0, 40.0, 80.0]


def test_growth_decays_one_step_per_max_open_seconds_closed() -> None:
    clock = Clock()
    b = breaker(clock)
    trip_and_wait(b, clock)  # 10
    for _ in range(3):  # 20, 40, 80: the growth at its top step
        trial = b.acquire()
        assert trial is not None
        b.record_failure(trial)
        clock.advance(b.open_until - clock.now)  # type: ignore[operator]
    succeed(b)
    assert b.snapshot().next_open_seconds == 80.0
    clock.advance(79.0)
    assert b.snapshot().next_open_seconds == 80.0  # not a full max_open_seconds yet
    clock.advance(1.0)
    assert b.snapshot().next_open_seconds == 40.0
    clock.advance(80.0 * 2)
    assert b.snapshot().next_open_seconds == 10.0
    clock.advance(80.0 * 10)  # never below the first step
    assert b.snapshot().next_open_seconds == 10.0
    assert trip_and_wait(b, clock) == 10.0


def test_outcomes_of_permits_from_before_a_transition_are_ignored() -> None:
    clock = Clock()
    b = breaker(clock)
    in_flight = [b.acquire() for _ in range(5)]
    assert all(p is not None for p in in_flight)
    permits = [p for p in in_flight if p is not None]
    for p in permits[:3]:
        b.record_failure(p, "timeout")
    assert state(b) is BreakerState.OPEN
    until = b.open_until
    b.record_failure(permits[3], "late timeout")  # the same outage: does not extend it
    assert b.open_until == until and b.snapshot().trips == 1
    assert b.snapshot().last_error == "late timeout"  # still the latest error seen
    clock.advance(10.0)
    trial = b.acquire()
    assert trial is not None
    b.record_success(permits[4])  # sent before the trip: cannot close a half-open breaker
    assert state(b) is BreakerState.HALF_OPEN
    b.record_success(trial)
    assert state(b) is BreakerState.CLOSED


def test_release_frees_a_trial_slot_without_an_outcome() -> None:
    clock = Clock()
    b = breaker(clock)
    trip_and_wait(b, clock)
    trial = b.acquire()
    assert trial is not None
    assert b.acquire() is None
    b.release(trial)  # e.g. the client cancelled the request
    assert state(b) is BreakerState.HALF_OPEN
    assert b.acquire() is not None


def test_a_permit_settles_once() -> None:
    clock = Clock()
    b = breaker(clock)
    permit = b.acquire()
    assert permit is not None
    for _ in range(5):
        b.record_failure(permit)
    assert b.snapshot().consecutive_failures == 1
    assert state(b) is BreakerState.CLOSED
    forged = Permit(trial=True, epoch=0, settled=True)
    b.record_success(forged)
    assert b.snapshot().consecutive_failures == 1


def test_snapshot() -> None:
    clock = Clock(50.0)
    b = breaker(clock)
    assert b.snapshot().state is BreakerState.CLOSED
    assert b.snapshot().last_error is None
    fail(b, 3, "HTTP 503")
    snap = b.snapshot()
    assert (snap.state, snap.consecutive_failures, snap.trips, snap.open_until, snap.last_error) == (
        BreakerState.OPEN,
        3,
        1,
        60.0,
        "HTTP 503",
    )
    assert snap.next_open_seconds == 20.0
    clock.advance(10.0)
    assert b.snapshot().state is BreakerState.HALF_OPEN
    assert b.snapshot().open_until is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"half_open_trials": 0},
        {"open_seconds": 0.0},
        {"open_seconds": 100.0, "max_open_seconds": 10.0},
    ],
)
def test_refuses_meaningless_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any of the messages
        breaker(Clock(), **kwargs)


def test_cap_equal_to_first_open_time_never_grows() -> None:
    clock = Clock()
    b = breaker(clock, open_seconds=30.0, max_open_seconds=30.0)
    assert trip_and_wait(b, clock) == 30.0
    trial = b.acquire()
    assert trial is not None
    b.record_failure(trial)
    assert b.open_until == clock.now + 30.0


# -- retries -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (None, ConnectionRefusedError(), True),
        (None, TimeoutError(), True),
        (429, None, True),
        (408, None, True),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (504, None, True),
        (507, None, True),
        (400, None, False),
        (401, None, False),
        (403, None, False),
        (404, None, False),
        (413, None, False),
        (422, None, False),
        (400, RuntimeError("BadRequestError raised by a client"), False),
        (200, None, False),
        (None, None, False),
        (None, asyncio.CancelledError(), False),
    ],
)
def test_retryable(status: int | None, error: BaseException | None, expected: bool) -> None:
    assert is_retryable(status, error) is expected
    assert RetryPolicy().retryable(status, error) is expected


def test_full_jitter_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff_s=0.5, max_backoff_s=3.0, rng=random.Random(7))
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0), (5000, 3.0)]:
        samples = [policy.delay(attempt).seconds for _ in range(2000)]
        assert all(0.0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.95 and min(samples) < cap * 0.05  # spread over the whole range
        assert sum(samples) / len(samples) == pytest.approx(cap / 2, rel=0.1)
    backoff = policy.delay(2)
    assert not backoff.fail_over and backoff.retry_after is None


def test_same_seed_same_delays() -> None:
    def delays(seed: int) -> list[float]:
        policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=5.0, rng=random.Random(seed))
        return [policy.delay(n).seconds for n in range(1, 6)]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)


def test_zero_backoff_is_allowed() -> None:
    policy = RetryPolicy(initial_backoff_s=0.0, max_backoff_s=0.0, rng=random.Random(1))
    assert policy.delay(3).seconds == 0.0


def test_retry_after_is_honoured_exactly_within_the_cap() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=5.0, rng=random.Random(1))
    backoff = policy.delay(1, "2")
    assert (backoff.seconds, backoff.fail_over, backoff.retry_after) == (2.0, False, 2.0)
    assert policy.delay(1, " 0 ").seconds == 0.0


def test_retry_after_longer_than_the_policy_means_fail_over() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=5.0, rng=random.Random(1))
    backoff = policy.delay(1, "30")
    assert (backoff.seconds, backoff.fail_over, backoff.retry_after) == (0.0, True, 30.0)


def test_retry_after_as_an_http_date() -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    policy = RetryPolicy(max_backoff_s=60.0, rng=random.Random(1), wall_clock=lambda: now)
    assert policy.delay(1, "Wed, 21 Oct 2015 07:28:30 GMT").seconds == 30.0
    assert policy.delay(1, "Wed, 21 Oct 2015 07:20:00 GMT").seconds == 0.0  # already past
    assert policy.delay(1, "Wed, 21 Oct 2015 08:28:00 GMT").fail_over


def test_garbage_retry_after_falls_back_to_jitter() -> None:
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=5.0, rng=random.Random(1))
    for garbage in ["soon", "", "-5", "1e999", "nan", "Wed, 99 Oct 2015 07:28:00 GMT", "3 seconds"]:
        backoff = policy.delay(1, garbage)
        assert backoff.retry_after is None and not backoff.fail_over and 0 <= backoff.seconds <= 1.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("1.5", 1.5),
        ("0", 0.0),
        (None, None),
        ("  ", None),
        ("abc", None),
        ("12abc", None),
        ("-1", None),
        ("inf", None),
        ("1e999", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # long past
        ("Sunday, 06-Nov-94 08:50:37 GMT", 60.0),  # RFC 850
        ("Sun Nov  6 08:51:37 1994", 120.0),  # asctime, no zone: GMT
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT
    assert parse_retry_after(value, now) == expected


def test_attempts_and_settings() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.can_retry(n) for n in (1, 2, 3)] == [True, True, False]
    assert not RetryPolicy(max_attempts=1).can_retry(1)
    with pytest.raises(ValueError, match="numbered from 1"):
        policy.delay(0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_backoff_s"):
        RetryPolicy(initial_backoff_s=10.0, max_backoff_s=1.0)


# -- backend order -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backend:
    name: str
    priority: int = 0
    weight: int = 1
    open: bool = False
    open_until: float = 0.0


def order(backends: list[Backend], rng: random.Random, with_until: bool = True) -> list[str]:
    result = order_backends(
        backends,
        priority=lambda b: b.priority,
        weight=lambda b: b.weight,
        is_open=lambda b: b.open,
        rng=rng,
        open_until=(lambda b: b.open_until) if with_until else None,
    )
    return [b.name for b in result]


def test_priority_tiers_come_in_ascending_order() -> None:
    backends = [Backend("c", 2), Backend("a1", 0), Backend("b", 1), Backend("a2", 0)]
    rng = random.Random(0)
    for _ in range(50):
        names = order(backends, rng)
        assert set(names[:2]) == {"a1", "a2"} and names[2:] == ["b", "c"]


def test_weight_shares_the_first_pick() -> None:
    backends = [Backend("heavy", weight=3), Backend("light", weight=1)]
    rng = random.Random(1234)
    firsts = Counter(order(backends, rng)[0] for _ in range(10_000))
    assert firsts["heavy"] / 10_000 == pytest.approx(0.75, abs=0.02)


def test_weighted_sampling_is_without_replacement() -> None:
    # P(b second) = P(a first) * 3/4 + P(c first) * 3/9 = 0.6 * 0.75 + 0.1 / 3
    backends = [Backend("a", weight=6), Backend("b", weight=3), Backend("c", weight=1)]
    rng = random.Random(99)
    orders = [order(backends, rng) for _ in range(10_000)]
    firsts = Counter(o[0] for o in orders)
    seconds = Counter(o[1] for o in orders)
    assert firsts["a"] / 10_000 == pytest.approx(0.6, abs=0.02)
    assert firsts["c"] / 10_000 == pytest.approx(0.1, abs=0.02)
    assert seconds["b"] / 10_000 == pytest.approx(0.6 * 0.75 + 0.1 / 3, abs=0.02)


def test_open_backends_go_last_and_are_never_dropped() -> None:
    backends = [
        Backend("primary", 0, open=True, open_until=5.0),
        Backend("secondary", 1),
        Backend("tertiary", 2),
    ]
    assert order(backends, random.Random(0)) == ["secondary", "tertiary", "primary"]


def test_all_open_tried_in_order_of_whose_open_time_ends_first() -> None:
    backends = [
        Backend("a", 0, open=True, open_until=30.0),
        Backend("b", 1, open=True, open_until=10.0),
        Backend("c", 2, open=True, open_until=20.0),
        Backend("d", 3, open=True, open_until=10.0),
    ]
    assert order(backends, random.Random(0)) == ["b", "d", "c", "a"]


def test_open_backends_without_open_until_follow_the_tiers() -> None:
    backends = [Backend("late", 5, open=True), Backend("early", 1, open=True), Backend("ok", 9)]
    assert order(backends, random.Random(0), with_until=False) == ["ok", "early", "late"]


def test_zero_weight_is_drained_not_dropped() -> None:
    backends = [Backend("drained", weight=0), Backend("x", weight=1), Backend("y", weight=1)]
    rng = random.Random(5)
    for _ in range(50):
        assert order(backends, rng)[-1] == "drained"
    assert weighted_permutation([0, 0], lambda w: w, rng) == [0, 0]


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        order([Backend("x", weight=-1)], random.Random(0))


def test_same_seed_same_order() -> None:
    backends = [Backend(str(i), i % 3, weight=i + 1) for i in range(9)]
    assert order(backends, random.Random(42)) == order(backends, random.Random(42))


backend_lists = st.lists(
    st.builds(
        Backend,
        name=st.text(min_size=1, max_size=3),
        priority=st.integers(0, 3),
        weight=st.integers(0, 5),
        open=st.booleans(),
        open_until=st.floats(0, 100),
    ),
    max_size=8,
)


@settings(derandomize=True, database=None, max_examples=200)
@given(backends=backend_lists, seed=st.integers(0, 2**32))
def test_every_backend_once_in_tier_order(backends: list[Backend], seed: int) -> None:
    result = order_backends(
        backends,
        priority=lambda b: b.priority,
        weight=lambda b: b.weight,
        is_open=lambda b: b.open,
        rng=random.Random(seed),
    )
    assert sorted(map(id, result)) == sorted(map(id, backends))
    flags = [b.open for b in result]
    assert flags == sorted(flags)  # every open one after every other
    ready = [b.priority for b in result if not b.open]
    assert ready == sorted(ready)
