"""The operator's metrics: what each reconcile pass, deletion, Qdrant call and the pass gate add to the
exposition text."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kopf
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vectorops.operator.adapters.qdrant import ClientPool, QdrantEndpoint
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import VECTOR_COLLECTION
from vectorops.operator.handlers import wiring
from vectorops.operator.handlers.passes import PassGate
from vectorops.operator.metrics import OperatorMetrics, serve
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.settings import OperatorSettings
from vectorops.operator.status.conditions import ConditionUpdate

KIND = "VectorCollection"
log = logging.getLogger("test")
Labels = frozenset[tuple[str, str]]


def samples(metrics: OperatorMetrics) -> dict[tuple[str, Labels], float]:
    """Every sample of the exposition text, by name and label set."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def body(uid: str) -> kopf.Body:
    return kopf.Body({"metadata": {"name": f"name-{uid}", "namespace": "ns", "uid": uid}})


def ready(status: ConditionStatus, reason: str) -> ConditionUpdate:
    return ConditionUpdate(ConditionType.READY.value, status, reason, "because")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def no_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wiring, "post_events", lambda body, events: None)  # no operator context here


# What each object's next pass does, by uid.
PLAN: dict[str, Any] = {
    "synced": (ready(ConditionStatus.TRUE, Reason.SYNCED.value), [Reason.DRIFT_REPAIRED.value] * 2),
    "missing-store": (ready(ConditionStatus.FALSE, Reason.STORE_NOT_FOUND.value), []),
    "rolling": (ready(ConditionStatus.FALSE, Reason.ROLLING_OUT.value), []),
    "odd": (ready(ConditionStatus.FALSE, "SomethingNobodyNamed"), []),
    "crash": RuntimeError("boom"),
}


async def reconcile(ctx: Context) -> Outcome:
    plan = PLAN[ctx.uid]
    if isinstance(plan, Exception):
        raise plan
    update, event_reasons = plan
    return outcome(ctx, [update], events=[EventNote("Normal", r, "m") for r in event_reasons])


@pytest.fixture
def metrics() -> OperatorMetrics:
    return OperatorMetrics(stale_after=180.0, clock=Clock())


async def test_passes_are_counted_by_kind_and_outcome(metrics: OperatorMetrics) -> None:
    handler, resync = wiring.make_handlers(PassGate(4), None, reconcile, KIND, metrics)  # type: ignore[arg-type]
    for uid in PLAN:
        await handler(body=body(uid), patch=kopf.Patch(), logger=log)
    await resync(body=body("synced"), patch=kopf.Patch(), logger=log)

    total = "vectorops_operator_reconcile_total"
    assert value(metrics, total, kind=KIND, outcome="Synced") == 2
    assert value(metrics, total, kind=KIND, outcome="StoreNotFound") == 1
    assert value(metrics, total, kind=KIND, outcome="RollingOut") == 1
    assert value(metrics, total, kind=KIND, outcome="Other") == 1  # an unknown reason stays bounded
    assert value(metrics, total, kind=KIND, outcome="error") == 1
    assert value(metrics, "vectorops_operator_reconcile_duration_seconds_count", kind=KIND) == 6

    # Errors: the exception, and Ready=False for a reason that is not progress (RollingOut is).
    errors = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples(metrics).items()
        if name == "vectorops_operator_reconcile_errors_total"
    }
    assert errors == {"ReconcileError": 1, "StoreNotFound": 1, "Other": 1}
    assert value(metrics, "vectorops_operator_drift_repairs_total", kind=KIND) == 4  # two per pass

    objects = "vectorops_operator_objects"
    assert value(metrics, objects, kind=KIND, ready="True", reason="Synced") == 1
    assert value(metrics, objects, kind=KIND, ready="False", reason="ReconcileError") == 1
    assert value(metrics, objects, kind=KIND, ready="False", reason="StoreNotFound") == 1
    assert value(metrics, objects, kind=KIND, ready="False", reason="RollingOut") == 1
    assert value(metrics, objects, kind=KIND, ready="False", reason="Other") == 1


async def test_a_deleted_object_leaves_the_objects_gauge(metrics: OperatorMetrics) -> None:
    handler, _ = wiring.make_handlers(PassGate(4), None, reconcile, KIND, metrics)  # type: ignore[arg-type]
    for uid in ("synced", "missing-store"):
        await handler(body=body(uid), patch=kopf.Patch(), logger=log)
    forget = wiring.make_forget(metrics)

    await forget(event={"type": "MODIFIED"}, body=body("synced"))  # not a deletion
    assert value(metrics, "vectorops_operator_objects", kind=KIND, ready="True", reason="Synced") == 1
    await forget(event={"type": "DELETED"}, body=body("synced"))
    assert value(metrics, "vectorops_operator_objects", kind=KIND, ready="True", reason="Synced") is None
    assert value(metrics, "vectorops_operator_objects", kind=KIND, ready="False", reason="StoreNotFound") == 1
    # The counters keep what happened.
    assert value(metrics, "vectorops_operator_reconcile_total", kind=KIND, outcome="Synced") == 1


async def test_an_object_no_pass_saw_for_three_resyncs_is_dropped(metrics: OperatorMetrics) -> None:
    clock = metrics._clock
    assert isinstance(clock, Clock)
    handler, _ = wiring.make_handlers(PassGate(4), None, reconcile, KIND, metrics)  # type: ignore[arg-type]
    await handler(body=body("synced"), patch=kopf.Patch(), logger=log)
    clock.now += 100
    await handler(body=body("missing-store"), patch=kopf.Patch(), logger=log)
    clock.now += 100  # "synced" last seen 200 s ago, "missing-store" 100 s ago
    assert value(metrics, "vectorops_operator_objects", kind=KIND, ready="True", reason="Synced") is None
    assert value(metrics, "vectorops_operator_objects", kind=KIND, ready="False", reason="StoreNotFound") == 1


def test_register_forgets_on_deleted_events_only() -> None:
    registry = kopf.OperatorRegistry()
    gate = PassGate(2)
    metrics = OperatorMetrics()
    w = wiring.Wiring(registry, None, OperatorSettings(), gate, metrics)  # type: ignore[arg-type]
    wiring.register(w, VECTOR_COLLECTION, reconcile)
    [forget] = [h for h in registry._watching.get_all_handlers() if h.id.startswith("metrics-forget-")]
    assert forget.when is not None
    assert forget.when(event={"type": "DELETED"}, type="DELETED")
    assert not forget.when(event={"type": "MODIFIED"}, type="MODIFIED")


async def test_the_gate_reports_passes_running_waiting_and_its_limit() -> None:
    metrics = OperatorMetrics()
    gate = PassGate(1)
    metrics.watch_gate(gate)
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx: Context) -> Outcome:
        entered.set()
        await release.wait()
        return outcome(ctx, [ready(ConditionStatus.TRUE, Reason.SYNCED.value)])

    handler, _ = wiring.make_handlers(gate, None, slow, KIND, metrics)  # type: ignore[arg-type]
    first = asyncio.create_task(handler(body=body("a"), patch=kopf.Patch(), logger=log))
    await entered.wait()
    second = asyncio.create_task(handler(body=body("b"), patch=kopf.Patch(), logger=log))  # no slot
    same = asyncio.create_task(handler(body=body("a"), patch=kopf.Patch(), logger=log))  # a is running
    await asyncio.sleep(0.01)
    assert value(metrics, "vectorops_operator_passes_in_flight") == 1
    assert value(metrics, "vectorops_operator_passes_waiting") == 2
    assert value(metrics, "vectorops_operator_max_concurrent_passes") == 1
    release.set()
    await asyncio.gather(first, second, same)
    assert value(metrics, "vectorops_operator_passes_in_flight") == 0
    assert value(metrics, "vectorops_operator_passes_waiting") == 0


async def test_a_pass_cancelled_while_waiting_leaves_no_count() -> None:
    gate = PassGate(1)
    entered, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with gate.hold("a"):
            entered.set()
            await release.wait()

    async def waiter() -> None:
        async with gate.hold("b"):
            pass

    first = asyncio.create_task(holder())
    await entered.wait()
    queued = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    assert (gate.running, gate.waiting) == (1, 1)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await first
    assert (gate.running, gate.waiting) == (0, 0)


async def test_qdrant_calls_through_the_pool_are_timed_by_method(tmp_path: Path) -> None:
    metrics = OperatorMetrics()
    pool = ClientPool(observe=metrics.qdrant_call)
    try:
        ep = QdrantEndpoint(url=f"local:{tmp_path / 'q'}")
        client = await pool.get("ns/store", ep)
        await client.get_collections()
        await client.get_collections()
        assert await client.collection_exists("nothing-here") is False
        assert pool.cached(ep.url) is client  # an embedded engine is pooled by its folder
    finally:
        await pool.close()
    count = "vectorops_operator_backend_seconds_count"
    assert value(metrics, count, backend="qdrant", operation="get_collections") == 2
    assert value(metrics, count, backend="qdrant", operation="collection_exists") == 1
    assert value(metrics, count, backend="qdrant", operation="close") is None  # closing is not a call


@pytest.fixture
def port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = int(s.getsockname()[1])
    yield free


async def test_served_on_its_own_port(port: int, caplog: pytest.LogCaptureFixture) -> None:
    metrics = OperatorMetrics()
    metrics.observe_pass(KIND, "u", [{"type": "Ready", "status": "True", "reason": "Synced"}], [], 0.01)
    runner = await serve(metrics.registry, "127.0.0.1", port)
    assert runner is not None
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            text = await r.text()
        assert 'vectorops_operator_reconcile_total{kind="VectorCollection",outcome="Synced"} 1.0' in text
        assert 'vectorops_operator_objects{kind="VectorCollection",ready="True",reason="Synced"} 1.0' in text
        # The port is taken: a second operator goes on without metrics, and says so.
        with caplog.at_level(logging.ERROR, logger="vectorops.operator"):
            assert await serve(metrics.registry, "127.0.0.1", port) is None
        assert "metrics not served" in caplog.text
    finally:
        await runner.cleanup()


def test_the_metrics_port_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert OperatorSettings().metrics_port == 9090
    monkeypatch.setenv("VECTOROPS_METRICS_PORT", "0")
    assert OperatorSettings().metrics_port == 0  # off


# -- per-object gauges of collections and endpoints ------------------------------------------------


def named_body(uid: str, name: str, status: dict[str, Any]) -> kopf.Body:
    return kopf.Body({"metadata": {"name": name, "namespace": "ns", "uid": uid}, "status": status})


async def test_collection_gauges_follow_the_status_the_pass_leaves(metrics: OperatorMetrics) -> None:
    observed = {"qdrantStatus": "yellow", "pointsCount": 1000, "indexedVectorsCount": 400}

    async def synced(ctx: Context) -> Outcome:
        return outcome(ctx, [ready(ConditionStatus.TRUE, Reason.SYNCED.value)], dict(observed))

    async def unreachable(ctx: Context) -> Outcome:  # reached no Qdrant: the status keeps what it had
        return outcome(ctx, [ready(ConditionStatus.FALSE, "BackendError")])

    handler, _ = wiring.make_handlers(PassGate(4), None, synced, KIND, metrics)  # type: ignore[arg-type]
    await handler(body=named_body("c1", "articles", {}), patch=kopf.Patch(), logger=log)
    where = {"namespace": "ns", "collection": "articles"}
    assert value(metrics, "vectorops_collection_status", **where, status="yellow") == 1
    for color in ("green", "grey", "red"):
        assert value(metrics, "vectorops_collection_status", **where, status=color) == 0
    assert value(metrics, "vectorops_collection_points", **where) == 1000
    assert value(metrics, "vectorops_collection_indexed_vectors", **where) == 400

    handler, _ = wiring.make_handlers(PassGate(4), None, unreachable, KIND, metrics)  # type: ignore[arg-type]
    await handler(body=named_body("c1", "articles", observed), patch=kopf.Patch(), logger=log)
    assert value(metrics, "vectorops_collection_points", **where) == 1000
    # A collection never seen in Qdrant has no series; a deleted one leaves.
    await handler(body=named_body("c2", "new", {}), patch=kopf.Patch(), logger=log)
    assert not any(dict(labels).get("collection") == "new" for _, labels in samples(metrics))
    await wiring.make_forget(metrics)(event={"type": "DELETED"}, body=named_body("c1", "articles", {}))
    assert value(metrics, "vectorops_collection_points", **where) is None


async def test_endpoint_gauges_read_health_and_the_healthy_condition(metrics: OperatorMetrics) -> None:
    def healthy(status: ConditionStatus) -> ConditionUpdate:
        return ConditionUpdate(ConditionType.HEALTHY.value, status, "ProbeFailed", "m")

    plans = {
        "e1": ({"consecutiveFailures": 4}, healthy(ConditionStatus.FALSE)),
        "e2": ({"consecutiveFailures": 0}, healthy(ConditionStatus.TRUE)),
        "e3": ({}, healthy(ConditionStatus.UNKNOWN)),  # probing off
    }

    async def probed(ctx: Context) -> Outcome:
        health, update = plans[ctx.uid]
        return outcome(ctx, [update], {"health": health} if health else {})

    handler, _ = wiring.make_handlers(PassGate(4), None, probed, "ExternalModelEndpoint", metrics)  # type: ignore[arg-type]
    for uid in plans:
        await handler(body=named_body(uid, f"ep-{uid}", {}), patch=kopf.Patch(), logger=log)
    failures, up = "vectorops_endpoint_probe_failures", "vectorops_endpoint_healthy"
    assert value(metrics, failures, namespace="ns", endpoint="ep-e1") == 4
    assert value(metrics, up, namespace="ns", endpoint="ep-e1") == 0
    assert value(metrics, failures, namespace="ns", endpoint="ep-e2") == 0
    assert value(metrics, up, namespace="ns", endpoint="ep-e2") == 1
    assert value(metrics, failures, namespace="ns", endpoint="ep-e3") is None
    assert value(metrics, up, namespace="ns", endpoint="ep-e3") is None


def test_the_oldest_pass_age_grows_for_an_object_whose_passes_stopped_until_it_is_deleted() -> None:
    clock = Clock()
    metrics = OperatorMetrics(stale_after=180.0, clock=clock, resync_seconds=60.0)
    age = "vectorops_operator_oldest_pass_age_seconds"
    assert value(metrics, age) is None  # no object yet: nothing can be stale
    assert value(metrics, "vectorops_operator_resync_interval_seconds") == 60.0
    metrics.observe_pass(KIND, "a", [], [], 0.01)
    clock.now += 30
    metrics.observe_pass(KIND, "b", [], [], 0.01)
    clock.now += 500  # "a" and "b" stopped being passed: past the objects gauge's staleness, still here
    assert value(metrics, age) == 530
    metrics.observe_pass(KIND, "a", [], [], 0.01)
    assert value(metrics, age) == 500  # "b" is now the oldest
    metrics.forget("b")
    assert value(metrics, age) == 0
    metrics.forget("a")
    assert value(metrics, age) is None
