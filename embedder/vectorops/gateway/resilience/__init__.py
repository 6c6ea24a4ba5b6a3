"""Resilience around upstream calls: circuit breakers, retries with backoff, the order to try backends.

Generic on purpose (no HTTP client, no aiohttp): the gateway decides what an outcome means and feeds
these with status codes and exceptions.
"""

from vectorops.gateway.resilience.balancer import order_backends, weighted_permutation
from vectorops.gateway.resilience.breaker import (
    BreakerSnapshot,
    CircuitBreaker,
    Permit,
    counts_as_failure,
)
from vectorops.gateway.resilience.retry import Backoff, RetryPolicy, is_retryable, parse_retry_after
from vectorops.routing.report import BreakerState  # the status contract's

__all__ = [
    "Backoff",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "Permit",
    "RetryPolicy",
    "counts_as_failure",
    "is_retryable",
    "order_backends",
    "parse_retry_after",
    "weighted_permutation",
]
