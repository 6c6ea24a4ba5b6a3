"""Splitting a batch into forward passes: optimal against brute force, and the two regimes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from vectorops.embedder.packing import padded_tokens, plan_forwards


def cost(lengths: list[int], passes: list[list[int]], overhead: int) -> int:
    return overhead * len(passes) + padded_tokens(lengths, passes)


def brute_force(lengths: list[int], overhead: int) -> int:
    """Cheapest split of the sorted lengths into contiguous passes, by trying every cut set."""
    ordered = sorted(lengths)
    best = None
    for cuts in itertools.product([False, True], repeat=len(ordered) - 1):
        passes, current = [], [0]
        for k, cut in enumerate(cuts, start=1):
            if cut:
                passes.append(current)
                current = []
            current.append(k)
        passes.append(current)
        total = cost(ordered, passes, overhead)
        best = total if best is None else min(best, total)
    assert best is not None
    return best


@given(st.lists(st.integers(1, 64), min_size=1, max_size=9), st.integers(0, 200))
def test_the_plan_is_a_partition_of_minimal_cost(lengths: list[int], overhead: int) -> None:
    passes = plan_forwards(lengths, overhead)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert cost(lengths, passes, overhead) == brute_force(lengths, overhead)


def test_cheap_passes_split_mixed_lengths() -> None:
    lengths = [5, 50, 6, 52, 5, 49]
    passes = plan_forwards(lengths, overhead_tokens=10)
    assert [sorted(lengths[i] for i in p) for p in passes] == [[5, 5, 6], [49, 50, 52]]


def test_expensive_passes_keep_the_batch_whole() -> None:
    lengths = [5, 50, 6, 52, 5, 49]
    assert len(plan_forwards(lengths, overhead_tokens=10_000)) == 1


def test_equal_lengths_share_a_pass_and_empty_is_empty() -> None:
    assert plan_forwards([7, 7, 7, 7], overhead_tokens=0) == [[0, 1, 2, 3]]
    assert plan_forwards([], overhead_tokens=5) == []
