"""EmbeddingModel spec.monitoring -> a PodMonitor and a PrometheusRule (Prometheus operator kinds).

The PodMonitor copies the pod's `vectorops.io/embeddingmodel` label onto every series
(as `vectorops_io_embeddingmodel`), so the alert expressions select one model's pods whatever job
name the Prometheus operator gives the scrape.
"""

from __future__ import annotations

from typing import Any

from vectorops.operator.api.embeddingmodel import BatchingSpec, EmbedderAlertsSpec, EmbeddingModelSpec
from vectorops.operator.builders.embedder_workload import labels, workload_name
from vectorops.operator.builders.rule_files import group, percent
from vectorops.operator.builders.rule_files import rule as base_rule

Manifest = dict[str, Any]
MONITORING_API = "monitoring.coreos.com/v1"
MODEL_LABEL = "vectorops.io/embeddingmodel"
DEFAULT_QUEUE: int = BatchingSpec.model_fields["max_queue_size"].default


def _selector(model: str, namespace: str) -> str:
    return f'namespace="{namespace}",vectorops_io_embeddingmodel="{model}"'


def build_pod_monitor(model: str, spec: EmbeddingModelSpec) -> Manifest | None:
    monitoring = spec.monitoring
    if monitoring is not None and not monitoring.pod_monitor:
        return None
    return {
        "apiVersion": MONITORING_API,
        "kind": "PodMonitor",
        "metadata": {"name": workload_name(model), "labels": labels(model)},
        "spec": {
            "selector": {"matchLabels": {MODEL_LABEL: model}},
            "podTargetLabels": [MODEL_LABEL],
            "podMetricsEndpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": monitoring.scrape_interval if monitoring else "30s",
                }
            ],
        },
    }


def alert_rules(model: str, namespace: str, spec: EmbeddingModelSpec) -> list[Manifest]:
    """The alerting rules, in Prometheus' rule-file shape (promtool checks them in the tests)."""
    alerts = (spec.monitoring.alerts if spec.monitoring else None) or EmbedderAlertsSpec()
    if not alerts.enabled:
        return []
    sel = _selector(model, namespace)
    max_queue = spec.batching.max_queue_size if spec.batching else DEFAULT_QUEUE
    queue_limit = alerts.queue_depth or max(1, max_queue * 8 // 10)
    where = f"EmbeddingModel {namespace}/{model}"

    def rule(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> Manifest:
        where_labels = {"severity": severity, "namespace": namespace, "embeddingmodel": model}
        return base_rule(name, expr, for_, where_labels, summary, description)

    return [
        rule(
            "VectorOpsEmbedderDown",
            # No target at all gives `sum` no series to compare; `or vector(0)` counts that as 0 up.
            f"(sum(up{{{sel}}}) or vector(0)) == 0",
            "5m",
            "critical",
            f"{where}: no embedder replica is up",
            "No pod of the embedder has answered a scrape for 5 minutes; embeddings through it fail.",
        ),
        rule(
            "VectorOpsEmbedderHighLatency",
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(vectorops_embedder_request_duration_seconds_bucket{{{sel}}}[5m]))) "
            f"> {alerts.p99_latency_seconds:g}",
            "10m",
            alerts.severity,
            f"{where}: p99 latency above {alerts.p99_latency_seconds:g} s",
            "p99 request latency is {{ $value | humanizeDuration }}; add replicas or raise batching limits.",
        ),
        rule(
            "VectorOpsEmbedderErrors",
            f'sum(rate(vectorops_embedder_requests_total{{{sel},status=~"5.."}}[5m])) '
            f"/ sum(rate(vectorops_embedder_requests_total{{{sel}}}[5m])) > {alerts.error_ratio:g}",
            "5m",
            alerts.severity,
            f"{where}: more than {percent(alerts.error_ratio)} of requests fail",
            "{{ $value | humanizePercentage }} of embedding requests end in a 5xx.",
        ),
        rule(
            "VectorOpsEmbedderQueueBacklog",
            f"max(vectorops_embedder_queue_depth{{{sel}}}) > {queue_limit}",
            "5m",
            alerts.severity,
            f"{where}: more than {queue_limit} texts waiting",
            "The batching queue stays long (429s follow when it fills); scale out or raise maxBatchSize.",
        ),
        rule(
            "VectorOpsEmbedderCacheUnavailable",
            f"sum(rate(vectorops_embedder_cache_errors_total{{{sel}}}[5m])) > 0",
            "10m",
            "warning",
            f"{where}: the Redis cache keeps failing",
            "Requests are served without the cache (slower, and repeated texts are recomputed).",
        ),
        rule(
            "VectorOpsEmbedderCacheHitRateCollapsed",
            # Against the model's own 6-hour level, not a fixed floor: workloads that never repeat a
            # text have a low ratio by nature and must not page anyone.
            f"{_hit_ratio(sel, '15m')} < 0.5 * {_hit_ratio(sel, '6h')} and {_hit_ratio(sel, '6h')} > 0.2",
            "15m",
            "warning",
            f"{where}: the cache hit ratio fell below half its 6-hour level",
            "Repeated texts are computed again (more latency and accelerator load): Redis was flushed or "
            "evicts too early, the TTL is too short, or the model's identity changed (new cache keys).",
        ),
        *(
            [
                rule(
                    "VectorOpsEmbedderDeviceMemoryHigh",
                    f"max(vectorops_embedder_device_memory_bytes{{{sel}}} "
                    f"/ vectorops_embedder_device_memory_total_bytes{{{sel}}}) > 0.9",
                    "10m",
                    alerts.severity,
                    f"{where}: GPU memory over 90% allocated",
                    "A larger batch or a longer text may fail with out-of-memory: lower maxBatchTokens or "
                    "maxBatchSize, use fp16/bf16, or a GPU with more memory.",
                )
            ]
            if spec.device == "gpu"
            else []
        ),
    ]


def _hit_ratio(sel: str, window: str) -> str:
    lookups = "vectorops_embedder_cache_lookups_total"
    return f'(sum(rate({lookups}{{{sel},result="hit"}}[{window}])) / sum(rate({lookups}{{{sel}}}[{window}])))'


def rule_group(model: str, namespace: str, rules: list[Manifest]) -> Manifest:
    return group(f"vectorops-embedder-{namespace}-{model}", rules)
