"""The order in which to try a model's backends: priority tiers, weights within a tier, open breakers last.

Rules:
- Backends whose breaker is not open come first: ascending priority, and within one priority a
  weighted random permutation (each next pick proportional to weight among those not yet picked), so
  the first pick shares traffic by weight and the rest are the failover order.
- Weight 0 means "drained": such a backend comes after the weighted ones of its tier, in input order.
- Open backends are moved out of the way, never dropped: when every backend is open the request is
  still tried, in order of whose open time ends first (the likeliest to have recovered), ties by
  priority, then input order. Without open_until they follow the same tier/weight rule as the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import TypeVar

B = TypeVar("B")


def weighted_permutation(items: Sequence[B], weight: Callable[[B], int], rng: random.Random) -> list[B]:
    """Weighted sampling without replacement; weight-0 items follow in input order."""
    weights = [weight(item) for item in items]
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    pool = [(w, item) for w, item in zip(weights, items, strict=True) if w > 0]
    order: list[B] = []
    total = sum(w for w, _ in pool)
    while pool:
        # A quadratic walk, which is fine for the handful of backends one model has.
        point = rng.random() * total
        index = len(pool) - 1  # float rounding can leave point at the very end
        for i, (w, _) in enumerate(pool):
            if point < w:
                index = i
                break
            point -= w
        w, item = pool.pop(index)
        total -= w
        order.append(item)
    order.extend(item for w, item in zip(weights, items, strict=True) if w == 0)
    return order


def _by_tier(
    items: Sequence[B], priority: Callable[[B], int], weight: Callable[[B], int], rng: random.Random
) -> list[B]:
    ordered = sorted(items, key=priority)  # stable: input order within a priority
    return [
        b for _, tier in groupby(ordered, key=priority) for b in weighted_permutation(list(tier), weight, rng)
    ]


def order_backends(
    backends: Sequence[B],
    priority: Callable[[B], int],
    weight: Callable[[B], int],
    is_open: Callable[[B], bool],
    rng: random.Random,
    open_until: Callable[[B], float] | None = None,
) -> list[B]:
    """Every backend, once, in the order to try them (see the module's rules)."""
    ready = [b for b in backends if not is_open(b)]
    blocked = [b for b in backends if is_open(b)]
    if open_until is None:
        return _by_tier(ready, priority, weight, rng) + _by_tier(blocked, priority, weight, rng)
    ends = {id(b): open_until(b) for b in blocked}  # asked once each: a clock may move in between
    return _by_tier(ready, priority, weight, rng) + sorted(blocked, key=lambda b: (ends[id(b)], priority(b)))
