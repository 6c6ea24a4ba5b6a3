"""The gateway's Prometheus metrics, on a registry of its own. Label values are bounded: routes come from
the table (a model name not in it is counted as "unknown"), backends are the table's, outcomes are
"ok", "error" or an HTTP status."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
BREAKER_STATES = ("closed", "half_open", "open")


class _BreakerCollector(Collector):
    """Breaker states read at scrape time, so the gauge is never stale."""

    def __init__(self, states: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self._states = states

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "vectorops_gateway_breaker_state",
            "1 for the state each backend's breaker is in",
            labels=["backend", "state"],
        )
        for backend, state in self._states():
            for candidate in BREAKER_STATES:
                family.add_metric([backend, candidate], 1.0 if candidate == state else 0.0)
        yield family


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "vectorops_gateway_requests_total",
            "Requests by route, API and HTTP status",
            ["route", "api", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "vectorops_gateway_request_duration_seconds",
            "Whole request latency",
            ["route", "api"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead_seconds = Histogram(
            "vectorops_gateway_overhead_seconds",
            "Time the gateway adds: the whole request minus the time spent waiting on backends",
            ["api"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_requests = Counter(
            "vectorops_gateway_upstream_requests_total",
            "Calls to backends by outcome",
            ["route", "backend", "outcome"],
            registry=r,
        )
        self.upstream_seconds = Histogram(
            "vectorops_gateway_upstream_duration_seconds",
            "Latency of calls to backends",
            ["route", "backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "vectorops_gateway_retries_total", "Retries on the same backend", ["route", "backend"], registry=r
        )
        self.failovers = Counter(
            "vectorops_gateway_failovers_total", "Moves to the next backend", ["route"], registry=r
        )
        self.routes = Gauge("vectorops_gateway_routes", "Routes in the table being served", registry=r)
        self.table_errors = Counter(
            "vectorops_gateway_route_table_errors_total",
            "Route tables that could not be read (the last good one kept serving)",
            registry=r,
        )
        self.cache_lookups = Counter(
            "vectorops_gateway_cache_lookups_total",
            "Embedding cache lookups (one per input) by route and outcome (hit, miss)",
            ["route", "outcome"],
            registry=r,
        )
        self.cache_errors = Counter(
            "vectorops_gateway_cache_errors_total",
            "Redis failures of the embedding cache (it was bypassed; no request failed)",
            registry=r,
        )

        self._collections()

    def _collections(self) -> None:
        """The collections data path. `collection` values are the namespace's bindings (bounded)."""
        r = self.registry
        self.collection_bindings = Gauge(
            "vectorops_gateway_collection_bindings", "Collection bindings being served", registry=r
        )
        self.binding_errors = Counter(
            "vectorops_gateway_collection_binding_errors_total",
            "Collection binding ConfigMaps that could not be read (skipped)",
            registry=r,
        )
        self.ingest_documents = Counter(
            "vectorops_gateway_ingest_documents_total",
            "Documents in ingest and delete requests by collection, operation and outcome "
            "(upserted, unchanged, deleted, failed)",
            ["collection", "operation", "outcome"],
            registry=r,
        )
        self.ingest_batches = Counter(
            "vectorops_gateway_ingest_batches_total",
            "Ingest and delete requests by collection, operation and outcome (ok, or the failing store)",
            ["collection", "operation", "outcome"],
            registry=r,
        )
        self.search_seconds = Histogram(
            "vectorops_gateway_search_duration_seconds",
            "Collection search latency, by whether the answer came from the search cache",
            ["collection", "cached"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.search_cache_lookups = Counter(
            "vectorops_gateway_search_cache_lookups_total",
            "Search cache lookups by outcome (hit, miss, bypass: Redis unavailable)",
            ["outcome"],
            registry=r,
        )
        self.search_cache_errors = Counter(
            "vectorops_gateway_search_cache_errors_total",
            "Redis failures of the search cache (bypassed; no request failed)",
            registry=r,
        )
        self.repairs = Counter(
            "vectorops_gateway_repair_rows_total",
            "Unfinished rows completed by the repair pass, by collection and action "
            "(committed, reembedded, deleted)",
            ["collection", "action"],
            registry=r,
        )
        self.repair_runs = Counter(
            "vectorops_gateway_repair_runs_total",
            "Repair passes by collection and outcome (ok, skipped: another replica held the lock, failed)",
            ["collection", "outcome"],
            registry=r,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """metric.labels(*labels), remembered: the lookup costs more than the observation (the label
        sets are bounded, as prometheus_client keeps every child anyway)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def watch_breakers(self, states: Callable[[], Iterable[tuple[str, str]]]) -> None:
        self.registry.register(_BreakerCollector(states))
