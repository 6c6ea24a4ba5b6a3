"""The operator's Prometheus metrics, on a registry of its own, served on their own port.

Label values are bounded: kinds are the four CRDs, reasons are the named condition reasons (api/conditions.py
Reason, plus the probe and backend reasons below; anything else is counted as "Other"), Qdrant operations
are qdrant-client method names; the per-object gauges (collections, endpoints) carry the object's
namespace and name, bounded by the number of objects. The objects gauge, the per-object gauges and the
pass gate's gauges are read at scrape time.

Nothing here knows kopf, the handlers or the adapters: the handlers report each pass (observe_pass) and
each deletion (forget), the Qdrant client pool reports each call through `qdrant_call`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import EXTERNAL_MODEL_ENDPOINT, VECTOR_COLLECTION
from vectorops.operator.api.vectorcollection import QdrantCollectionStatus

log = logging.getLogger("vectorops.operator")

# Reasons the adapters, probes and builders put into conditions besides the Reason enum.
EXTRA_REASONS = frozenset(
    {
        # Qdrant (adapters/qdrant.py) and the apiserver (adapters/kube.py)
        "Unauthorized",
        "QdrantRejected",
        "BackendError",
        "InvalidCA",
        "CollectionNameConflict",
        "LocalPathUnusable",
        "AliasConflict",
        "ApiError",
        "ApiserverUnreachable",
        "KindNotServed",
        "Forbidden",
        "Invalid",
        "Conflict",
        # Redis (adapters/redis_probe.py)
        "RedisUnreachable",
        "RedisAuthenticationFailed",
        # endpoint health probes (status/endpoint.py, reconcilers/externalendpoint.py)
        "Healthy",
        "Routed",
        "ProbeFailed",
        "ProbeSucceeded",
        "NotProbed",
        "NormMismatch",
        "NotFinite",
        "VectorsChanged",
        # routes (builders/routes.py, reconcilers/routes.py)
        "RouteConflict",
        "IncompatibleVectors",
        "NotRoutable",
        "RouteTableTooLarge",
        "NoRouteTable",
    }
)
KNOWN_REASONS = frozenset(r.value for r in Reason) | EXTRA_REASONS
OTHER = "Other"
ERROR = "error"  # the outcome of a pass that ended in an exception (caught by run_pass)
UNKNOWN = "Unknown"  # no Ready condition at all
# Not-ready reasons that mean "on its way", not "something is wrong" (not counted as errors).
PROGRESS = frozenset({Reason.ROLLING_OUT.value, Reason.RECONCILING.value, Reason.DIMENSION_UNKNOWN.value})

PASS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BACKEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def bounded_reason(reason: str) -> str:
    return reason if reason in KNOWN_REASONS else OTHER


def ready_of(conditions: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(status, bounded reason) of the Ready condition; (Unknown, Unknown) without one."""
    for c in conditions:
        if c.get("type") == ConditionType.READY.value:
            status = str(c.get("status", UNKNOWN))
            if status not in {s.value for s in ConditionStatus}:
                status = UNKNOWN
            return status, bounded_reason(str(c.get("reason", "")))
    return UNKNOWN, UNKNOWN


class Saturation(Protocol):
    """What the pass gate tells about itself (handlers/passes.py PassGate)."""

    @property
    def running(self) -> int: ...

    @property
    def waiting(self) -> int: ...

    @property
    def limit(self) -> int: ...


COLORS = tuple(c.value for c in QdrantCollectionStatus)


@dataclass(frozen=True)
class CollectionState:
    """What a VectorCollection's status says of the Qdrant collection (None: not known yet)."""

    color: str | None
    points: int | None
    indexed: int | None


@dataclass(frozen=True)
class EndpointState:
    """What an ExternalModelEndpoint's status says of its health (None: not probed)."""

    failures: int | None
    healthy: bool | None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def observed_state(kind: str, status: Mapping[str, Any]) -> CollectionState | EndpointState | None:
    """The gauges' figures from an object's status (the one its pass leaves), for the kinds that have them."""
    if kind == VECTOR_COLLECTION.kind:
        color = status.get("qdrantStatus")
        return CollectionState(
            color if color in COLORS else None,
            _count(status.get("pointsCount")),
            _count(status.get("indexedVectorsCount")),
        )
    if kind == EXTERNAL_MODEL_ENDPOINT.kind:
        health = status.get("health") or {}
        failures = _count(health.get("consecutiveFailures")) if health else None
        healthy: bool | None = None
        for c in status.get("conditions") or []:
            if c.get("type") == ConditionType.HEALTHY.value and c.get("status") in ("True", "False"):
                healthy = c["status"] == "True"
        return EndpointState(failures, healthy)
    return None


@dataclass
class _Last:
    kind: str
    ready: str
    reason: str
    seen: float
    namespace: str = ""
    name: str = ""
    state: CollectionState | EndpointState | None = None


class _StateCollector(Collector):
    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[GaugeMetricFamily]:
        objects = GaugeMetricFamily(
            "vectorops_operator_objects",
            "Objects by kind and by the Ready status and reason of their last reconcile pass",
            labels=["kind", "ready", "reason"],
        )
        live = self._metrics.live_objects()
        counts: dict[tuple[str, str, str], int] = {}
        for last in live:
            key = (last.kind, last.ready, last.reason)
            counts[key] = counts.get(key, 0) + 1
        for (kind, ready, reason), n in sorted(counts.items()):
            objects.add_metric([kind, ready, reason], float(n))
        yield objects
        yield from _object_gauges(live)
        yield GaugeMetricFamily(
            "vectorops_operator_resync_interval_seconds",
            "How often every object gets a pass (VECTOROPS_RESYNC_SECONDS)",
            value=self._metrics.resync_seconds,
        )
        oldest = self._metrics.oldest_pass_age()
        if oldest is not None:  # no object, no age: nothing to be stale
            yield GaugeMetricFamily(
                "vectorops_operator_oldest_pass_age_seconds",
                "Seconds since the last pass of the object that waited longest (deleted objects leave it)",
                value=oldest,
            )
        gate = self._metrics.gate
        if gate is None:
            return
        yield GaugeMetricFamily(
            "vectorops_operator_passes_in_flight",
            "Reconcile passes (change, resync, deletion) holding a slot now",
            value=float(gate.running),
        )
        yield GaugeMetricFamily(
            "vectorops_operator_passes_waiting",
            "Reconcile passes waiting for a slot or for their object's running pass",
            value=float(gate.waiting),
        )
        yield GaugeMetricFamily(
            "vectorops_operator_max_concurrent_passes",
            "Slots: VECTOROPS_MAX_CONCURRENT_RECONCILES",
            value=float(gate.limit),
        )


def _object_gauges(live: Sequence[_Last]) -> Iterable[GaugeMetricFamily]:
    """The per-object gauges of collections and endpoints, from their last pass's status."""
    where = ["namespace", "collection"]
    status = GaugeMetricFamily(
        "vectorops_collection_status",
        "1 for Qdrant's current status (green, yellow, grey, red) of each VectorCollection's collection",
        labels=[*where, "status"],
    )
    points = GaugeMetricFamily(
        "vectorops_collection_points", "Points in each VectorCollection's Qdrant collection", labels=where
    )
    indexed = GaugeMetricFamily(
        "vectorops_collection_indexed_vectors",
        "Vectors covered by an index in each VectorCollection's Qdrant collection",
        labels=where,
    )
    failures = GaugeMetricFamily(
        "vectorops_endpoint_probe_failures",
        "Consecutive failed health probes of each ExternalModelEndpoint (status.health)",
        labels=["namespace", "endpoint"],
    )
    healthy = GaugeMetricFamily(
        "vectorops_endpoint_healthy",
        "1 when an ExternalModelEndpoint's Healthy condition is True, 0 when False (absent when Unknown)",
        labels=["namespace", "endpoint"],
    )
    for last in sorted(live, key=lambda x: (x.kind, x.namespace, x.name)):
        state, labels = last.state, [last.namespace, last.name]
        if isinstance(state, CollectionState):
            if state.color is not None:
                for color in COLORS:
                    status.add_metric([*labels, color], 1.0 if color == state.color else 0.0)
            if state.points is not None:
                points.add_metric(labels, float(state.points))
            if state.indexed is not None:
                indexed.add_metric(labels, float(state.indexed))
        elif isinstance(state, EndpointState):
            if state.failures is not None:
                failures.add_metric(labels, float(state.failures))
            if state.healthy is not None:
                healthy.add_metric(labels, 1.0 if state.healthy else 0.0)
    yield from (status, points, indexed, failures, healthy)


class OperatorMetrics:
    """Counters and histograms fed by the handlers and the Qdrant pool; gauges read at scrape time.

    The objects gauge holds the last pass's Ready (status, reason) per object uid. An entry goes when
    the watch reports the object DELETED (`forget`), or when no pass has seen the object for
    `stale_after` seconds (three resync intervals: a deletion missed while the watch was down, a replica
    that stopped being the active one)."""

    def __init__(
        self,
        stale_after: float = 180.0,
        clock: Callable[[], float] = time.monotonic,
        resync_seconds: float = 60.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.stale_after = stale_after
        self.resync_seconds = resync_seconds
        self._clock = clock
        # uid -> when its last pass ended; unlike _objects, only a deletion removes an entry, so an
        # object whose passes stopped keeps ageing here (the stale-resync alert reads the oldest).
        self._passed: dict[str, float] = {}
        self._objects: dict[str, _Last] = {}
        self._lock = threading.Lock()  # scrapes may come from another thread than the passes
        self.gate: Saturation | None = None
        r = self.registry
        self.reconciles = Counter(
            "vectorops_operator_reconcile_total",
            "Reconcile passes by kind and outcome (the Ready reason after the pass, or error)",
            ["kind", "outcome"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "vectorops_operator_reconcile_duration_seconds",
            "Time of one reconcile pass (the reconciler's work, without the wait for a slot)",
            ["kind"],
            buckets=PASS_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "vectorops_operator_reconcile_errors_total",
            "Reconcile passes that ended with an exception or with Ready=False for a reason that is "
            "not progress (RollingOut, Reconciling, DimensionUnknown)",
            ["kind", "reason"],
            registry=r,
        )
        self.drift_repairs = Counter(
            "vectorops_operator_drift_repairs_total",
            "DriftRepaired events: something changed behind the operator's back and was put back",
            ["kind"],
            registry=r,
        )
        self.backend_seconds = Histogram(
            "vectorops_operator_backend_seconds",
            "Latency of the operator's calls to backends, failed ones included",
            ["backend", "operation"],
            buckets=BACKEND_BUCKETS,
            registry=r,
        )
        r.register(_StateCollector(self))

    # -- fed by the handlers ------------------------------------------------------------------------
    def observe_pass(
        self,
        kind: str,
        uid: str,
        conditions: Sequence[Mapping[str, Any]],
        event_reasons: Iterable[str],
        seconds: float,
        crashed: bool = False,
        namespace: str = "",
        name: str = "",
        status: Mapping[str, Any] | None = None,
    ) -> None:
        """Count one pass; `status` is the object's status once the pass's patch is applied (the
        collection and endpoint gauges read it)."""
        ready, reason = ready_of(conditions)
        self.reconciles.labels(kind, ERROR if crashed else reason).inc()
        self.reconcile_seconds.labels(kind).observe(seconds)
        if crashed or (ready == ConditionStatus.FALSE.value and reason not in PROGRESS):
            self.errors.labels(kind, reason).inc()
        repairs = sum(1 for r in event_reasons if r == Reason.DRIFT_REPAIRED.value)
        if repairs:
            self.drift_repairs.labels(kind).inc(repairs)
        if uid:
            with self._lock:
                state = observed_state(kind, status or {})
                self._objects[uid] = _Last(kind, ready, reason, self._clock(), namespace, name, state)
                self._passed[uid] = self._clock()

    def forget(self, uid: str) -> None:
        """The object is gone: it leaves the objects gauge."""
        with self._lock:
            self._objects.pop(uid, None)
            self._passed.pop(uid, None)

    def oldest_pass_age(self) -> float | None:
        """Seconds since the least recent last pass of any object not deleted (None: none seen)."""
        with self._lock:
            return self._clock() - min(self._passed.values()) if self._passed else None

    def watch_gate(self, gate: Saturation) -> None:
        self.gate = gate

    # -- fed by the Qdrant client pool ----------------------------------------------------------------
    def qdrant_call(self, operation: str, seconds: float) -> None:
        self.backend_seconds.labels("qdrant", operation).observe(seconds)

    # -- fed by the PostgreSQL pools ------------------------------------------------------------------
    def postgres_call(self, operation: str, seconds: float) -> None:
        self.backend_seconds.labels("postgres", operation).observe(seconds)

    # -- fed by the Redis probe -----------------------------------------------------------------------
    def redis_call(self, operation: str, seconds: float) -> None:
        self.backend_seconds.labels("redis", operation).observe(seconds)

    # -- read at scrape time --------------------------------------------------------------------------
    def live_objects(self) -> list[_Last]:
        """The last pass of every object seen within `stale_after` (older ones are dropped)."""
        cutoff = self._clock() - self.stale_after
        with self._lock:
            for uid in [u for u, last in self._objects.items() if last.seen < cutoff]:
                del self._objects[uid]
            return list(self._objects.values())


async def serve(registry: CollectorRegistry, host: str, port: int) -> web.AppRunner | None:
    """GET /metrics on host:port, in the running event loop (aiohttp, which kopf brings anyway). Returns
    the runner to clean up, or None when the port cannot be bound: the operator goes on without metrics
    (reconciling matters more than being scraped), and says so in its log."""

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        log.error("metrics not served: cannot listen on %s:%d (%s)", host, port, e.strerror or e)
        return None
    log.info("metrics served on http://%s:%d/metrics", host, port)
    return runner
