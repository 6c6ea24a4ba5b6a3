"""When to retry an upstream call and how long to wait: full-jitter exponential backoff, Retry-After.

Retry-After is honoured, never shortened: retrying before the server's time is a wasted request that
may prolong the limit. Nor is it waited out when it exceeds max_backoff_s: a request should not stall
for longer than the policy allows, so the answer is then "fail over" (try another backend now), with
the server's time attached so the caller can leave that backend alone until then.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC


@dataclass(frozen=True)
class Backoff:
    seconds: float  # wait this long before retrying the same backend; 0 <= seconds <= max_backoff_s
    fail_over: bool  # the server asked for more than max_backoff_s: try another backend now, no wait
    retry_after: float | None  # the server's Retry-After in seconds (not capped); None if absent or garbage


def is_retryable(status: int | None, error: BaseException | None) -> bool:
    """Connection errors, timeouts, 408, 429 and 5xx may pass on another try; other 4xx cannot (the
    request itself is wrong, or unauthorised) and neither can a cancellation (the caller gave up)."""
    if status is not None and 400 <= status < 500:
        return status in (408, 429)
    if error is not None:
        return isinstance(error, Exception) and not isinstance(error, asyncio.CancelledError)
    return status is not None and status >= 500


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or an HTTP-date), None for garbage.

    Decimal seconds ("1.5") are accepted though RFC 9110 allows only digits: some servers send them and
    their meaning is plain. A date in the past means 0. now is wall-clock time (time.time()).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text[0].isdigit():
        try:
            seconds = float(text)
        except ValueError:
            return None
        return seconds if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; a zone-less one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class RetryPolicy:
    """max_attempts counts the first try. attempt numbers are 1-based: delay(1, ...) is the wait after
    the first try failed."""

    def __init__(
        self,
        max_attempts: int = 3,
        initial_backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= initial_backoff_s <= max_backoff_s:
            raise ValueError("need 0 <= initial_backoff_s <= max_backoff_s")
        self.max_attempts = max_attempts
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self._rng = rng if rng is not None else random.Random()
        self._wall_clock = wall_clock  # only to read HTTP-dates in Retry-After

    @staticmethod
    def retryable(status: int | None, error: BaseException | None) -> bool:
        return is_retryable(status, error)

    def can_retry(self, attempt: int) -> bool:
        """Whether another attempt is allowed after attempt number `attempt` failed."""
        return attempt < self.max_attempts

    def delay(self, attempt: int, retry_after: str | None = None) -> Backoff:
        """The wait after attempt number `attempt` failed, given the answer's Retry-After header."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        asked = parse_retry_after(retry_after, self._wall_clock())
        if asked is not None:
            if asked > self.max_backoff_s:
                return Backoff(seconds=0.0, fail_over=True, retry_after=asked)
            return Backoff(seconds=asked, fail_over=False, retry_after=asked)
        # Full jitter (AWS architecture blog): uniform in [0, cap], cap doubling from initial_backoff_s.
        # The exponent is bounded so a large attempt number cannot overflow the float.
        cap = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** min(attempt - 1, 64))
        return Backoff(seconds=self._rng.uniform(0.0, cap), fail_over=False, retry_after=None)
