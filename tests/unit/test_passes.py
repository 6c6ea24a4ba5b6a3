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


async def test_a_resync_never_runs_beside_a_change_pass_of_the_same_object(monkeypatch) -> None:
    import logging

    import kopf

    from vectorops.operator.handlers import wiring
    from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome

    monkeypatch.setattr(wiring, "post_events", lambda body, events: None)  # no operator context here
    running: dict[str, int] = {}
    peak: dict[str, int] = {}
    passes: list[str] = []

    async def reconcile(ctx: Context) -> Outcome:
        running[ctx.name] = running.get(ctx.name, 0) + 1
        peak[ctx.name] = max(peak.get(ctx.name, 0), running[ctx.name])
        passes.append(ctx.name)
        await asyncio.sleep(0.05)
        running[ctx.name] -= 1
        return outcome(ctx, [])

    handler, resync = wiring.make_handlers(PassGate(8), kube=None, reconcile=reconcile)  # type: ignore[arg-type]

    def body(name: str) -> kopf.Body:
        return kopf.Body({"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}})

    log = logging.getLogger("test")
    await asyncio.gather(
        handler(body=body("a"), patch=kopf.Patch(), logger=log),
        handler(body=body("a"), patch=kopf.Patch(), logger=log),
        resync(body=body("a"), patch=kopf.Patch(), logger=log),  # the object is busy: skipped
        handler(body=body("b"), patch=kopf.Patch(), logger=log),
    )
    assert peak == {"a": 1, "b": 1}
    assert sorted(passes) == ["a", "a", "b"]
    await resync(body=body("a"), patch=kopf.Patch(), logger=log)  # quiet now: it runs
    assert passes.count("a") == 3
