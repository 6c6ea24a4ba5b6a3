"""Prometheus rule groups for VectorCollections, ExternalModelEndpoints and the operator itself, in the
rule-file shape (`{"name": ..., "rules": [...]}`; promtool checks and unit-tests them in the tests).

They read the operator's per-object gauges (metrics.py: `vectorops_collection_*`, `vectorops_endpoint_*`,
`vectorops_operator_*`) and the gateway's series. The operator's gauges carry the object's own
`namespace` label: the operator must be scraped with honor_labels (`honorLabels: true` in a
ServiceMonitor/PodMonitor), or Prometheus renames it to `exported_namespace` and these rules select
nothing. The gateway's series are selected by the gateway pod's `namespace` target label: a gateway runs
in the namespace whose route table it serves.

The operator applies the collection and endpoint groups (reconcilers/alerts.py: a PrometheusRule, or a
rules ConfigMap where that CRD is not served); the operator's own group is rendered by `vectorops rules`
for whoever deploys the operator. EmbeddingModels' rules are in embedder_monitoring.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.externalendpoint import EndpointAlertsSpec, ExternalModelEndpointSpec
from vectorops.operator.api.kinds import EMBEDDING_MODEL, EXTERNAL_MODEL_ENDPOINT, VECTOR_COLLECTION
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.builders import embedder_monitoring
from vectorops.operator.builders.rule_files import Manifest, group, percent, record, rule

INDEX_RATIO_MIN_POINTS = 100_000
"""The indexed-ratio alert ignores smaller collections: Qdrant indexes a segment only above its
indexing threshold (20 MB of vectors by default), so a small collection is rightly (and cheaply) unindexed."""
INGEST_MIN_REQUESTS = 10
"""The ingest-failure alert ignores collections with fewer ingest and delete requests over its 10
minutes: two failures out of three requests say little about a share."""
PROBE_FAILURES = 3
OPERATOR_JOB = ".*vectorops-operator.*"
"""The scrape job of the operator (a ServiceMonitor's job is the Service's name: vectorops-operator)."""
CRASH_REASONS = "ReconcileError|InvalidSpec"
"""The Ready reasons of passes that raised: the operator's own failures, not an object's bad spec."""


def _regex_literal(name: str) -> str:
    """A Kubernetes name inside a PromQL regex string (its dots are literal)."""
    return name.replace(".", "\\\\.")


def collection_rules(name: str, namespace: str, spec: VectorCollectionSpec) -> Manifest | None:
    """The collection's group, or None when spec.alerts is absent or disabled."""
    alerts = spec.alerts
    if alerts is None or not alerts.enabled:
        return None
    sel = f'namespace="{namespace}",collection="{name}"'
    labels = {"severity": alerts.severity, "namespace": namespace, "vectorcollection": name}
    where = f"VectorCollection {namespace}/{name}"
    minutes = alerts.not_green_for_minutes
    ratio = alerts.min_indexed_ratio
    points = f"vectorops_collection_points{{{sel}}}"
    batches = f"vectorops_gateway_ingest_batches_total{{{sel}}}"
    failed_batches = f'vectorops_gateway_ingest_batches_total{{{sel},outcome!="ok"}}'
    runs = "vectorops_gateway_repair_runs_total"
    search = f'vectorops_gateway_search_duration_seconds_bucket{{{sel},cached="false"}}'
    error_ratio, p99 = alerts.ingest_error_ratio, alerts.search_p99_seconds
    rules = [
        rule(
            "VectorOpsCollectionNotGreen",
            f'vectorops_collection_status{{{sel},status!="green"}} == 1',
            f"{minutes}m",
            labels,
            f"{where}: Qdrant collection {{{{ $labels.status }}}} for {minutes} minutes",
            "Qdrant reports the collection as {{ $labels.status }} (yellow: optimizing, grey: optimization "
            "pending, red: an optimizer failed); searches may be slow or incomplete.",
        ),
        rule(
            "VectorOpsCollectionIndexLagging",
            f"vectorops_collection_indexed_vectors{{{sel}}} / {points} < {ratio:g}"
            f" and {points} >= {INDEX_RATIO_MIN_POINTS}",
            "15m",
            labels,
            f"{where}: less than {percent(ratio)} of vectors indexed",
            "Only {{ $value | humanizePercentage }} of the points are covered by an index; searches over "
            "the rest are full scans.",
        ),
        rule(
            "VectorOpsCollectionPointsDropped",
            f"{points} < 0.5 * max_over_time({points}[10m])",
            None,
            labels,
            f"{where}: more than half of the points gone within 10 minutes",
            "The collection holds {{ $value }} points, less than half of what it held in the last 10 "
            "minutes: a mass delete, or the collection was dropped and recreated.",
        ),
        # The gateway's data path: its series carry the gateway pod's namespace (a gateway serves the
        # bindings of its own namespace) and `collection`, the VectorCollection's name.
        rule(
            "VectorOpsCollectionIngestFailing",
            f"sum(rate({failed_batches}[10m])) / sum(rate({batches}[10m])) > {error_ratio:g}"
            f" and sum(increase({batches}[10m])) >= {INGEST_MIN_REQUESTS}",
            "5m",
            labels,
            f"{where}: more than {percent(error_ratio)} of ingest and delete requests fail",
            "{{ $value | humanizePercentage }} of the gateway's ingest and delete requests for the "
            "collection failed over 10 minutes (an embedding, Qdrant or PostgreSQL failure, or a timeout); "
            "their documents were not written.",
        ),
        rule(
            "VectorOpsCollectionRepairFailing",
            f'sum(increase({runs}{{{sel},outcome="failed"}}[15m])) > 0'
            f' unless sum(increase({runs}{{{sel},outcome="ok"}}[15m])) > 0',
            "5m",
            labels,
            f"{where}: the gateway's repair passes fail",
            "Repair passes of the collection have failed and none has completed for 15 minutes: writes "
            "a failure left unfinished (rows pending or deleting in PostgreSQL) stay unfinished.",
        ),
        rule(
            "VectorOpsCollectionSearchSlow",
            f"histogram_quantile(0.99, sum by (le) (rate({search}[5m]))) > {p99:g}",
            "10m",
            labels,
            f"{where}: p99 search latency above {p99:g} s",
            "The 99th percentile of the gateway's uncached searches of the collection takes "
            "{{ $value | humanizeDuration }} (embedding the query, the Qdrant search, the PostgreSQL join).",
        ),
    ]
    return group(f"vectorops-collection-{namespace}-{name}", rules)


def endpoint_rules(name: str, namespace: str, alerts: EndpointAlertsSpec | None = None) -> Manifest | None:
    """The endpoint's group (on unless spec.alerts.enabled is false)."""
    alerts = alerts or EndpointAlertsSpec()
    if not alerts.enabled:
        return None
    ratio = alerts.error_ratio
    sel = f'namespace="{namespace}",endpoint="{name}"'
    backends = f'namespace="{namespace}",backend=~"{EXTERNAL_MODEL_ENDPOINT.kind}/{_regex_literal(name)}:.*"'
    labels = {"severity": alerts.severity, "namespace": namespace, "externalmodelendpoint": name}
    where = f"ExternalModelEndpoint {namespace}/{name}"
    calls = "vectorops_gateway_upstream_requests_total"
    rules = [
        rule(
            "VectorOpsEndpointProbeFailing",
            f"vectorops_endpoint_probe_failures{{{sel}}} >= {PROBE_FAILURES}",
            "5m",
            labels,
            f"{where}: health probes keep failing",
            "{{ $value }} health probes in a row have failed.",
        ),
        rule(
            "VectorOpsEndpointUnhealthy",
            f"vectorops_endpoint_healthy{{{sel}}} == 0",
            "5m",
            labels,
            f"{where}: not healthy, out of the route table",
            "The Healthy condition is False: the gateway sends it no traffic (its failover group's next "
            "endpoint, if any, serves instead).",
        ),
        rule(
            "VectorOpsEndpointBreakerOpen",
            f'max by (backend) (vectorops_gateway_breaker_state{{{backends},state="open"}}) == 1',
            "10m",
            labels,
            f"{where}: the gateway's circuit breaker open for 10 minutes",
            "The gateway's breaker for {{ $labels.backend }} stays open: real traffic to it fails.",
        ),
        rule(
            "VectorOpsEndpointErrors",
            f'sum(rate({calls}{{{backends},outcome!="ok"}}[10m])) / sum(rate({calls}{{{backends}}}[10m]))'
            f" > {ratio:g}",
            "5m",
            labels,
            f"{where}: more than {percent(ratio)} of the gateway's calls fail",
            "{{ $value | humanizePercentage }} of the gateway's calls to it failed over 10 minutes "
            "(an error or a non-2xx answer).",
        ),
    ]
    return group(f"vectorops-endpoint-{namespace}-{name}", rules)


def operator_rules(job: str = OPERATOR_JOB) -> Manifest:
    """The operator's own alerts, and the recording rules (one group: they are not per object)."""
    labels = {"severity": "warning"}
    rules = [
        rule(
            "VectorOpsOperatorDown",
            # absent() also covers "no target at all" (the Deployment gone, or never scraped).
            f'absent(up{{job=~"{job}"}} == 1)',
            "5m",
            {"severity": "critical"},
            "The vectorops operator is down",
            "No operator target has answered a scrape for 5 minutes: nothing is reconciled, drift is "
            "not repaired, endpoints are not probed.",
        ),
        rule(
            "VectorOpsOperatorReconcileErrors",
            "sum by (kind) "
            f'(increase(vectorops_operator_reconcile_errors_total{{reason=~"{CRASH_REASONS}"}}[10m])) > 0',
            "10m",
            labels,
            "vectorops operator: {{ $labels.kind }} passes keep failing",
            "Reconcile passes of {{ $labels.kind }} objects raise (ReconcileError) or cannot read the "
            "spec (InvalidSpec): {{ $value | humanize }} such passes in 10 minutes.",
        ),
        rule(
            "VectorOpsObjectsNotReady",
            'sum by (kind, reason) (vectorops_operator_objects{ready!="True"}) > 0',
            "15m",
            labels,
            "{{ $value }} {{ $labels.kind }} objects not Ready ({{ $labels.reason }})",
            "{{ $value }} {{ $labels.kind }} objects have not been Ready for 15 minutes, reason "
            "{{ $labels.reason }}.",
        ),
        rule(
            "VectorOpsOperatorStaleResyncs",
            # The oldest last pass of any object the operator knows, against its resync interval: every
            # object gets a pass at least once per interval, so three missed ones mean passes stopped.
            "max(vectorops_operator_oldest_pass_age_seconds) "
            "> 3 * max(vectorops_operator_resync_interval_seconds)",
            "5m",
            labels,
            "vectorops operator: objects are no longer resynced",
            "An object has not had a reconcile pass for {{ $value | humanizeDuration }}, over three resync "
            "intervals: drift is not being repaired (a frozen watch, a pass that hangs, or a deletion that "
            "cannot finish).",
        ),
        record(
            "namespace:vectorops_gateway_upstream_requests:rate5m",
            "sum by (namespace) (rate(vectorops_gateway_upstream_requests_total[5m]))",
        ),
        record(
            "namespace_backend_outcome:vectorops_gateway_upstream_requests:rate5m",
            "sum by (namespace, backend, outcome) (rate(vectorops_gateway_upstream_requests_total[5m]))",
        ),
        record(
            "namespace_route_status:vectorops_gateway_requests:rate5m",
            "sum by (namespace, route, status) (rate(vectorops_gateway_requests_total[5m]))",
        ),
        record(
            "kind:vectorops_operator_reconcile:rate5m",
            "sum by (kind) (rate(vectorops_operator_reconcile_total[5m]))",
        ),
        record(
            "kind_reason:vectorops_operator_reconcile_errors:rate5m",
            "sum by (kind, reason) (rate(vectorops_operator_reconcile_errors_total[5m]))",
        ),
    ]
    return group("vectorops-operator", rules)


def object_rules(manifest: Mapping[str, Any]) -> Manifest | None:
    """The rule group the operator would produce for one object (None: none for it, or not a kind
    with rules)."""
    meta = manifest.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "default")
    spec = manifest.get("spec") or {}
    kind = manifest.get("kind")
    if kind == EMBEDDING_MODEL.kind:
        model_spec = EmbeddingModelSpec.model_validate(spec)
        rules = embedder_monitoring.alert_rules(name, namespace, model_spec)
        return embedder_monitoring.rule_group(name, namespace, rules) if rules else None
    if kind == VECTOR_COLLECTION.kind:
        return collection_rules(name, namespace, VectorCollectionSpec.model_validate(spec))
    if kind == EXTERNAL_MODEL_ENDPOINT.kind:
        return endpoint_rules(name, namespace, ExternalModelEndpointSpec.model_validate(spec).alerts)
    return None
