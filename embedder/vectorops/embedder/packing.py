"""Splitting one batch into forward passes so that padding stays small.

A forward pass over n texts padded to length L costs about `overhead + n * L` token-equivalents: a fixed
cost per pass (kernel launches, Python module calls) plus the padded tokens. Over texts sorted by length,
the cheapest split into passes is found by dynamic programming. On a CPU the fixed cost is small next to
the tokens, so a mixed batch becomes several passes of similar lengths (as in-process encode, which sorts
its whole corpus by length, gets for free); on a GPU the fixed cost dominates, so a batch stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def plan_forwards(lengths: Sequence[int], overhead_tokens: int) -> list[list[int]]:
    """Indices into `lengths`, grouped into forward passes of minimal total estimated cost.

    Each pass holds texts of neighbouring lengths; passes come shortest first. Boundaries fall only
    where the length changes, so texts of one length always share a pass.
    """
    if not lengths:
        return []
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    ordered = [lengths[i] for i in order]
    # Candidate boundaries: the end of each run of equal lengths.
    ends = [k for k in range(1, len(ordered)) if ordered[k] != ordered[k - 1]] + [len(ordered)]
    starts = np.zeros(len(ends) + 1, dtype=np.int64)  # boundary positions: 0, then each end
    cost = np.zeros(len(ends) + 1, dtype=np.float64)  # cheapest cost of everything before a boundary
    previous = np.zeros(len(ends) + 1, dtype=np.int64)  # which boundary the last pass started at
    for k, end in enumerate(ends, start=1):
        width = ordered[end - 1]
        candidates = cost[:k] + overhead_tokens + (end - starts[:k]) * width
        best = int(np.argmin(candidates))
        starts[k], cost[k], previous[k] = end, candidates[best], best
    passes: list[list[int]] = []
    k = len(ends)
    while k > 0:
        begin = int(starts[previous[k]])
        passes.append(order[begin : int(starts[k])])
        k = int(previous[k])
    passes.reverse()
    return passes


def padded_tokens(lengths: Sequence[int], passes: list[list[int]]) -> int:
    """Tokens the passes compute, padding included."""
    return sum(len(p) * max(lengths[i] for i in p) for p in passes)
