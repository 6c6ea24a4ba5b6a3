"""One reconcile pass per object at a time, and a bound on passes across objects."""

from __future__ import annotations

import asyncio

from vectorops.operator.handlers.passes import PassGate


async def test_one_pass_per_object_and_a_global_bound() -> None:
    gate = PassGate(max_concurrent=2)
    running: dict[str, int] = {}
    peak_per_key: dict[str, int] = {}
    peak_total = 0

    async def work(key: str) -> None:
        nonlocal peak_total
        async with gate.hold(key):
            running[key] = running.get(key, 0) + 1
            peak_per_key[key] = max(peak_per_key.get(key, 0), running[key])
            peak_total = max(peak_total, sum(running.values()))
            await asyncio.sleep(0.01)
            running[key] -= 1

    await asyncio.gather(*(work(k) for k in ["a", "a", "a", "b", "b", "c", "d"]))
    assert peak_per_key == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert peak_total == 2


async def test_busy_while_a_pass_runs_or_waits_and_locks_are_forgotten_after() -> None:
    gate = PassGate(max_concurrent=1)
    entered, release = asyncio.Event(), asyncio.Event()

    async def long_pass() -> None:
        async with gate.hold("a"):
            entered.set()
            await release.wait()

    task = asyncio.create_task(long_pass())
    await entered.wait()
    assert gate.busy("a") and not gate.busy("b")
    release.set()
    await task
    assert not gate.busy("a")
    assert gate._locks == {} and gate._waiting == {}
