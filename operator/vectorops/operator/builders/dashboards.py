"""Grafana dashboards (JSON model, schemaVersion 39) for the operator, the embedders, the gateway and its
providers, and the collections, and the ConfigMaps that ship them to the Grafana Helm chart's dashboard
sidecar (label `grafana_dashboard: "1"`).

Every query reads only series the code exports (operator/metrics.py, embedder/metrics.py,
gateway/metrics.py, plus `up`); tests/unit/test_dashboards.py checks the names against the registries
and parses every query with promtool. The selectors follow the rule groups (alert_rules.py,
embedder_monitoring.py): the operator's per-object gauges carry the object's `namespace`, the gateway's
series its pod's `namespace`, the embedders' series `namespace` and `vectorops_io_embeddingmodel`.
`vectorops dashboards` renders them (`make dashboards`, into dashboards/).
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from vectorops.operator.builders.alert_rules import OPERATOR_JOB
from vectorops.operator.builders.embedder_monitoring import MODEL_LABEL

Manifest = dict[str, Any]
Panel = dict[str, Any]

SCHEMA_VERSION = 39
SIDECAR_LABEL = "grafana_dashboard"
"""The label the Grafana Helm chart's sidecar looks for (sidecar.dashboards.label), with value "1"."""
FOLDER_ANNOTATION = "grafana_folder"
DATASOURCE: Manifest = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
MODEL = MODEL_LABEL.replace(".", "_").replace("/", "_")
"""The embedders' model label, as the PodMonitor copies the pod label (vectorops_io_embeddingmodel)."""
MODEL_LEGEND = "{{" + MODEL + "}}"

# -- panels --------------------------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A") -> Manifest:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}


def _targets(queries: list[tuple[str, str]]) -> list[Manifest]:
    return [target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(queries)]


def timeseries(
    title: str, queries: list[tuple[str, str]], unit: str, description: str = "", stack: bool = False
) -> Panel:
    custom: Manifest = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit, "min": 0, "custom": custom}, "overrides": []},
        "options": {
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
                "calcs": ["lastNotNull"],
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
    }


def stat(
    title: str, expr: str, unit: str, description: str = "", thresholds: list[Manifest] | None = None
) -> Panel:
    steps = thresholds or [{"color": "green", "value": None}]
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        },
        "targets": [target(expr, title)],
    }


def states(title: str, expr: str, legend: str, names: list[tuple[str, str]], description: str = "") -> Panel:
    """A state timeline of an expression whose value is the index of a state in `names` ((text, color))."""
    mappings = {str(i): {"text": text, "color": color, "index": i} for i, (text, color) in enumerate(names)}
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "unit": "none",
                "mappings": [{"type": "value", "options": mappings}],
                "color": {"mode": "thresholds"},
                "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
            },
            "overrides": [],
        },
        "options": {"showValue": "never", "mergeValues": True, "legend": {"showLegend": False}},
        "targets": [target(expr, legend)],
    }


def _red_above(value: float) -> list[Manifest]:
    return [{"color": "green", "value": None}, {"color": "red", "value": value}]


def _quantiles(
    metric: str, sel: str, by: str, legend: str, qs: tuple[float, ...] = (0.5, 0.99)
) -> list[tuple[str, str]]:
    """histogram_quantile of a histogram's buckets, per `by` (and le)."""
    group = f"{by}, le" if by else "le"
    return [
        (
            f"histogram_quantile({q:g}, sum by ({group}) (rate({metric}_bucket{{{sel}}}[{RATE}])))",
            f"p{q * 100:g} {legend}".rstrip(),
        )
        for q in qs
    ]


def _ratio(metric: str, sel: str, part: str, by: str) -> str:
    """The share of a counter's rate whose labels match `part` as well as `sel`, per `by`."""
    grouping = f"sum by ({by}) " if by else "sum"
    part_rate = f"rate({metric}{{{_join(sel, part)}}}[{RATE}])"
    return f"{grouping}({part_rate}) / {grouping}(rate({metric}{{{sel}}}[{RATE}]))"


def _join(*matchers: str) -> str:
    return ",".join(m for m in matchers if m)


# -- layout --------------------------------------------------------------------------------------------


def _layout(sections: list[tuple[str, list[list[Panel]]]]) -> list[Panel]:
    """Rows of panels under collapsible-row headers: each row of panels shares the 24 columns evenly;
    stat rows are 4 high, the others 8. Panel ids are sequential."""
    panels: list[Panel] = []
    y = 0
    for title, rows in sections:
        panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            }
        )
        y += 1
        for row in rows:
            width = 24 // len(row)
            height = 4 if all(p["type"] == "stat" for p in row) else 8
            for i, panel in enumerate(row):
                panels.append({**panel, "gridPos": {"h": height, "w": width, "x": i * width, "y": y}})
            y += height
    return [{"id": i, **p} for i, p in enumerate(panels, start=1)]


def _datasource_variable() -> Manifest:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def _query_variable(name: str, label: str, query: str) -> Manifest:
    """A multi-value variable from label_values(...), All by default."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "refresh": 2,
        "sort": 1,
        "hide": 0,
        "regex": "",
        "options": [],
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    variables: list[Manifest],
    sections: list[tuple[str, list[list[Panel]]]],
) -> Manifest:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["vectorops"],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [_datasource_variable(), *variables]},
        "panels": _layout(sections),
    }


# -- the dashboards ------------------------------------------------------------------------------------


def operator_dashboard() -> Manifest:
    up = f'up{{job=~"{OPERATOR_JOB}"}}'
    rec, err = "vectorops_operator_reconcile_total", "vectorops_operator_reconcile_errors_total"
    objects = "vectorops_operator_objects"
    calls = "vectorops_operator_backend_seconds_count"
    overview = [
        stat(
            "Operator targets up",
            f"sum({up}) or vector(0)",
            "none",
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
        ),
        stat("Objects", f"sum({objects})", "none"),
        stat(
            "Objects not Ready",
            f'sum({objects}{{ready!="True"}}) or vector(0)',
            "none",
            thresholds=_red_above(1),
        ),
        stat(
            "Reconcile errors /s",
            f"sum(rate({err}[{RATE}])) or vector(0)",
            "ops",
            thresholds=_red_above(0.01),
        ),
        stat(
            "Pass slots in use",
            "sum(vectorops_operator_passes_in_flight) / sum(vectorops_operator_max_concurrent_passes)",
            "percentunit",
            thresholds=_red_above(0.9),
        ),
    ]
    passes = [
        timeseries(
            "Reconcile passes by kind and outcome",
            [(f"sum by (kind, outcome) (rate({rec}[{RATE}]))", "{{kind}} {{outcome}}")],
            "ops",
            "outcome: the Ready reason after the pass, or error when the reconciler raised",
            stack=True,
        ),
        timeseries(
            "Reconcile errors by kind and reason",
            [(f"sum by (kind, reason) (rate({err}[{RATE}]))", "{{kind}} {{reason}}")],
            "ops",
            "Passes that raised, or ended Ready=False for a reason that is not progress",
        ),
    ]
    durations = [
        timeseries(
            "Reconcile duration by kind",
            _quantiles("vectorops_operator_reconcile_duration_seconds", "", "kind", "{{kind}}"),
            "s",
            "The reconciler's work, without the wait for a slot",
        ),
        timeseries(
            "Drift repairs by kind",
            [(f"sum by (kind) (rate(vectorops_operator_drift_repairs_total[{RATE}]))", "{{kind}}")],
            "ops",
            "Something changed behind the operator's back and was put back",
        ),
    ]
    states_row = [
        timeseries(
            "Objects by kind and Ready",
            [(f"sum by (kind, ready) ({objects})", "{{kind}} Ready={{ready}}")],
            "none",
            stack=True,
        ),
        timeseries(
            "Objects not Ready by reason",
            [(f'sum by (kind, reason) ({objects}{{ready!="True"}})', "{{kind}} {{reason}}")],
            "none",
            stack=True,
        ),
    ]
    gate = [
        timeseries(
            "Passes in flight and waiting vs slots",
            [
                ("sum(vectorops_operator_passes_in_flight)", "in flight"),
                ("sum(vectorops_operator_passes_waiting)", "waiting"),
                (
                    "max(vectorops_operator_max_concurrent_passes)",
                    "slots (VECTOROPS_MAX_CONCURRENT_RECONCILES)",
                ),
            ],
            "none",
            "In flight at the maximum with a growing wait: the slots are the bottleneck",
        ),
        timeseries(
            "Backend call latency by operation (Qdrant, PostgreSQL)",
            _quantiles(
                "vectorops_operator_backend_seconds",
                "",
                "backend, operation",
                "{{backend}} {{operation}}",
                (0.99,),
            ),
            "s",
        ),
        timeseries(
            "Backend calls by operation (Qdrant, PostgreSQL)",
            [
                (
                    f"sum by (backend, operation) (rate({calls}[{RATE}]))",
                    "{{backend}} {{operation}}",
                )
            ],
            "ops",
            stack=True,
        ),
    ]
    return dashboard(
        "vectorops-operator",
        "vectorops / Operator",
        "Reconcile passes, errors, durations, object states, the pass gate and the operator's Qdrant calls",
        [],
        [
            ("Overview", [overview]),
            ("Reconcile passes", [passes, durations]),
            ("Objects", [states_row]),
            ("Concurrency and Qdrant", [gate]),
        ],
    )


def embedders_dashboard() -> Manifest:
    sel = f'namespace=~"$namespace",{MODEL}=~"$model"'
    req = "vectorops_embedder_requests_total"
    lookups = "vectorops_embedder_cache_lookups_total"
    by_model = MODEL
    overview = [
        stat(
            "Replicas up",
            f"sum(up{{{sel}}}) or vector(0)",
            "none",
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
        ),
        stat("Requests /s", f"sum(rate({req}{{{sel}}}[{RATE}]))", "reqps"),
        stat(
            "Errors (5xx)", _ratio(req, sel, 'status=~"5.."', ""), "percentunit", thresholds=_red_above(0.01)
        ),
        stat("Cache hit ratio", _ratio(lookups, sel, 'result="hit"', ""), "percentunit"),
        stat("Queue depth", f"sum(vectorops_embedder_queue_depth{{{sel}}})", "none"),
    ]
    traffic = [
        timeseries(
            "Requests by model and status",
            [
                (
                    f"sum by ({by_model}, status) (rate({req}{{{sel}}}[{RATE}]))",
                    f"{MODEL_LEGEND} {{{{status}}}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Request latency by model",
            _quantiles("vectorops_embedder_request_duration_seconds", sel, by_model, MODEL_LEGEND),
            "s",
        ),
        timeseries(
            "Stage latency p99",
            _quantiles("vectorops_embedder_stage_duration_seconds", sel, "stage", "{{stage}}", (0.99,)),
            "s",
            "queue: waiting for a forward pass; tokenize; forward: the model; cache: Redis lookups",
        ),
    ]
    volume = [
        timeseries(
            "Texts embedded /s",
            [
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_texts_total{{{sel}}}[{RATE}]))",
                    MODEL_LEGEND,
                )
            ],
            "ops",
            "Cache hits included",
        ),
        timeseries(
            "Prompt tokens /s",
            [
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_prompt_tokens_total{{{sel}}}[{RATE}]))",
                    MODEL_LEGEND,
                )
            ],
            "ops",
        ),
        timeseries(
            "Batches and forward passes /s",
            [
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_batches_total{{{sel}}}[{RATE}]))",
                    f"batches {MODEL_LEGEND}",
                ),
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_forward_passes_total{{{sel}}}[{RATE}]))",
                    f"forward passes {MODEL_LEGEND}",
                ),
            ],
            "ops",
        ),
    ]
    batching = [
        timeseries(
            "Batch size (texts per batch)",
            _quantiles("vectorops_embedder_batch_size", sel, by_model, MODEL_LEGEND),
            "none",
        ),
        timeseries(
            "Padded tokens per forward pass",
            _quantiles("vectorops_embedder_batch_padded_tokens", sel, by_model, MODEL_LEGEND),
            "none",
        ),
        timeseries(
            "Queue depth by pod",
            [(f"max by ({by_model}, pod) (vectorops_embedder_queue_depth{{{sel}}})", "{{pod}}")],
            "none",
            "Texts waiting for a forward pass (the autoscaler's per-pod metric)",
        ),
    ]
    cache = [
        timeseries(
            "Cache hit ratio by model",
            [(_ratio(lookups, sel, 'result="hit"', by_model), MODEL_LEGEND)],
            "percentunit",
        ),
        timeseries(
            "Cache errors and batcher restarts",
            [
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_cache_errors_total{{{sel}}}[{RATE}]))",
                    f"cache errors {MODEL_LEGEND}",
                ),
                (
                    f"sum by ({by_model}) (rate(vectorops_embedder_batcher_restarts_total{{{sel}}}[{RATE}]))",
                    f"batcher restarts {MODEL_LEGEND}",
                ),
            ],
            "ops",
            "Redis failures (the cache was bypassed) and batching loop failures (their requests got 503)",
        ),
    ]
    gpu = [
        timeseries(
            "Accelerator memory allocated by pod",
            [(f"max by ({by_model}, pod) (vectorops_embedder_device_memory_bytes{{{sel}}})", "{{pod}}")],
            "bytes",
            "Memory the model runtime holds on the GPU (the embedder exports no utilisation figure)",
        ),
        timeseries(
            "Forward pass time per pod (busy share)",
            [
                (
                    f"sum by ({by_model}, pod) "
                    f'(rate(vectorops_embedder_stage_duration_seconds_sum{{{sel},stage="forward"}}[{RATE}]))',
                    "{{pod}}",
                )
            ],
            "percentunit",
            "Seconds per second spent in forward passes: how busy each replica's accelerator is kept",
        ),
    ]
    namespace = _query_variable("namespace", "Namespace", f"label_values({req}, namespace)")
    model = _query_variable(
        "model", "EmbeddingModel", f'label_values({req}{{namespace=~"$namespace"}}, {MODEL})'
    )
    return dashboard(
        "vectorops-embedders",
        "vectorops / Embedders",
        "EmbeddingModel embedders: requests, latency, batching, cache and accelerator memory",
        [namespace, model],
        [
            ("Overview", [overview]),
            ("Requests", [traffic, volume]),
            ("Batching", [batching]),
            ("Cache", [cache]),
            ("GPU", [gpu]),
        ],
    )


def gateway_dashboard() -> Manifest:
    ns = 'namespace=~"$namespace"'
    sel = f'{ns},route=~"$route"'
    req, up_req = "vectorops_gateway_requests_total", "vectorops_gateway_upstream_requests_total"
    lookups, breaker = "vectorops_gateway_cache_lookups_total", "vectorops_gateway_breaker_state"
    overview = [
        stat("Requests /s", f"sum(rate({req}{{{sel}}}[{RATE}]))", "reqps"),
        stat(
            "Errors (5xx)", _ratio(req, sel, 'status=~"5.."', ""), "percentunit", thresholds=_red_above(0.01)
        ),
        stat(
            "Upstream failures",
            _ratio(up_req, sel, 'outcome!="ok"', ""),
            "percentunit",
            thresholds=_red_above(0.05),
        ),
        stat("Routes served", f"max(vectorops_gateway_routes{{{ns}}})", "none"),
        stat(
            "Open breakers",
            f'count(max by (backend) ({breaker}{{{ns},state="open"}}) == 1) or vector(0)',
            "none",
            thresholds=_red_above(1),
        ),
    ]
    traffic = [
        timeseries(
            "Requests by route and status",
            [(f"sum by (route, status) (rate({req}{{{sel}}}[{RATE}]))", "{{route}} {{status}}")],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Request latency by route",
            _quantiles("vectorops_gateway_request_duration_seconds", sel, "route", "{{route}}"),
            "s",
        ),
        timeseries(
            "Gateway overhead by API",
            _quantiles("vectorops_gateway_overhead_seconds", ns, "api", "{{api}}"),
            "s",
            "The whole request minus the time spent waiting on backends",
        ),
    ]
    providers = [
        timeseries(
            "Upstream calls by backend and outcome",
            [(f"sum by (backend, outcome) (rate({up_req}{{{sel}}}[{RATE}]))", "{{backend}} {{outcome}}")],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Upstream latency by backend",
            _quantiles("vectorops_gateway_upstream_duration_seconds", sel, "backend", "{{backend}}"),
            "s",
        ),
        timeseries(
            "Upstream failure ratio by backend",
            [(_ratio(up_req, sel, 'outcome!="ok"', "backend"), "{{backend}}")],
            "percentunit",
            "An error or a non-2xx answer",
        ),
    ]
    resilience = [
        timeseries(
            "Retries by backend",
            [
                (
                    f"sum by (route, backend) (rate(vectorops_gateway_retries_total{{{sel}}}[{RATE}]))",
                    "{{route}} {{backend}}",
                )
            ],
            "ops",
        ),
        timeseries(
            "Failovers by route",
            [(f"sum by (route) (rate(vectorops_gateway_failovers_total{{{sel}}}[{RATE}]))", "{{route}}")],
            "ops",
            "Moves to the next backend",
        ),
        states(
            "Circuit breakers",
            f'max by (backend) ({breaker}{{{ns},state="half_open"}})'
            f' + 2 * max by (backend) ({breaker}{{{ns},state="open"}})',
            "{{backend}}",
            [("closed", "green"), ("half open", "yellow"), ("open", "red")],
        ),
    ]
    endpoints = [
        states(
            "ExternalModelEndpoint health",
            f"1 - max by (namespace, endpoint) (vectorops_endpoint_healthy{{{ns}}})",
            "{{namespace}}/{{endpoint}}",
            [("healthy", "green"), ("unhealthy", "red")],
            "The operator's health probes (absent while not probed)",
        ),
        timeseries(
            "Consecutive probe failures by endpoint",
            [
                (
                    f"max by (namespace, endpoint) (vectorops_endpoint_probe_failures{{{ns}}})",
                    "{{namespace}}/{{endpoint}}",
                )
            ],
            "none",
        ),
    ]
    cache = [
        timeseries(
            "Embedding cache hit ratio by route",
            [(_ratio(lookups, sel, 'outcome="hit"', "route"), "{{route}}")],
            "percentunit",
        ),
        timeseries(
            "Cache and route table errors",
            [
                (f"sum(rate(vectorops_gateway_cache_errors_total{{{ns}}}[{RATE}]))", "cache (Redis) errors"),
                (
                    f"sum(rate(vectorops_gateway_route_table_errors_total{{{ns}}}[{RATE}]))",
                    "unreadable route tables",
                ),
            ],
            "ops",
        ),
    ]
    namespace = _query_variable("namespace", "Namespace", f"label_values({req}, namespace)")
    route = _query_variable("route", "Route", f'label_values({req}{{namespace=~"$namespace"}}, route)')
    return dashboard(
        "vectorops-gateway",
        "vectorops / Gateway and providers",
        "The gateway's routes and its calls to in-cluster and hosted backends: retries, failovers, breakers",
        [namespace, route],
        [
            ("Overview", [overview]),
            ("Requests", [traffic]),
            ("Providers", [providers, resilience, endpoints]),
            ("Cache", [cache]),
        ],
    )


def collections_dashboard() -> Manifest:
    sel = 'namespace=~"$namespace",collection=~"$collection"'
    points, indexed = "vectorops_collection_points", "vectorops_collection_indexed_vectors"
    status = "vectorops_collection_status"
    by = "namespace, collection"
    overview = [
        stat("Collections", f"count({points}{{{sel}}}) or vector(0)", "none"),
        stat(
            "Not green",
            f'count({status}{{{sel},status!="green"}} == 1) or vector(0)',
            "none",
            thresholds=_red_above(1),
        ),
        stat("Points", f"sum({points}{{{sel}}})", "short"),
        stat("Indexed ratio", f"sum({indexed}{{{sel}}}) / sum({points}{{{sel}}})", "percentunit"),
    ]
    colour = " + ".join(
        f'{i} * max by ({by}) ({status}{{{sel},status="{c}"}})'
        for i, c in enumerate(("yellow", "grey", "red"), 1)
    )
    health = [
        states(
            "Qdrant status by collection",
            colour,
            "{{namespace}}/{{collection}}",
            [("green", "green"), ("yellow", "yellow"), ("grey", "text"), ("red", "red")],
            "yellow: optimizing; grey: optimization pending; red: an optimizer failed",
        ),
        timeseries(
            "VectorCollections by Ready reason",
            [
                (
                    'sum by (ready, reason) (vectorops_operator_objects{kind="VectorCollection"})',
                    "Ready={{ready}} {{reason}}",
                )
            ],
            "none",
            stack=True,
        ),
    ]
    sizes = [
        timeseries(
            "Points by collection",
            [(f"sum by ({by}) ({points}{{{sel}}})", "{{namespace}}/{{collection}}")],
            "short",
        ),
        timeseries(
            "Indexed ratio by collection",
            [
                (
                    f"sum by ({by}) ({indexed}{{{sel}}}) / sum by ({by}) ({points}{{{sel}}})",
                    "{{namespace}}/{{collection}}",
                )
            ],
            "percentunit",
            "Vectors covered by an index over points; small collections are rightly unindexed",
        ),
        timeseries(
            "Points change over 1h",
            [(f"sum by ({by}) (delta({points}{{{sel}}}[1h]))", "{{namespace}}/{{collection}}")],
            "short",
        ),
    ]
    namespace = _query_variable("namespace", "Namespace", f"label_values({points}, namespace)")
    collection = _query_variable(
        "collection", "Collection", f'label_values({points}{{namespace=~"$namespace"}}, collection)'
    )
    return dashboard(
        "vectorops-collections",
        "vectorops / Collections",
        "VectorCollections: their Qdrant collections' status, points and indexed ratio (the operator's "
        "gauges), and the gateway's data path over them: ingest, search, search cache, repair",
        [namespace, collection],
        [
            ("Overview", [overview]),
            ("Health", [health]),
            ("Size and indexing", [sizes]),
            ("Data path", _data_path(sel)),
        ],
    )


def _data_path(sel: str) -> list[list[Panel]]:
    """The gateway's collections data path (gateway/collections/). Its series carry the gateway pod's
    `namespace` (a gateway serves its own namespace's bindings) and `collection`, the VectorCollection's
    name, so the collection dashboard's variables select them; the search cache and binding series are
    per gateway, without `collection`."""
    ns = 'namespace=~"$namespace"'
    by, legend = "namespace, collection", "{{namespace}}/{{collection}}"
    docs, batches = "vectorops_gateway_ingest_documents_total", "vectorops_gateway_ingest_batches_total"
    lookups = "vectorops_gateway_search_cache_lookups_total"
    rows, runs = "vectorops_gateway_repair_rows_total", "vectorops_gateway_repair_runs_total"
    ingest = [
        timeseries(
            "Ingested documents /s by outcome",
            [
                (
                    f"sum by ({by}, operation, outcome) (rate({docs}{{{sel}}}[{RATE}]))",
                    f"{legend} {{{{operation}}}} {{{{outcome}}}}",
                )
            ],
            "ops",
            "Documents of ingest (upsert) and delete requests: upserted, unchanged (already stored as "
            "sent), deleted, failed (in a request that failed)",
            stack=True,
        ),
        timeseries(
            "Ingest and delete requests by outcome",
            [
                (
                    f"sum by ({by}, operation, outcome) (rate({batches}{{{sel}}}[{RATE}]))",
                    f"{legend} {{{{operation}}}} {{{{outcome}}}}",
                )
            ],
            "reqps",
            "ok, or what failed: EmbeddingFailed, QdrantUnavailable, QdrantRejected, PostgresUnavailable, "
            "timeout (refused requests, 4xx, are not counted)",
            stack=True,
        ),
        timeseries(
            "Ingest failure ratio by collection",
            [(_ratio(batches, sel, 'outcome!="ok"', by), legend)],
            "percentunit",
            "Ingest and delete requests that failed (503/502: nothing acknowledged; rows left pending are "
            "finished by the repair pass)",
        ),
    ]
    search = [
        timeseries(
            "Search latency by collection and cache",
            _quantiles(
                "vectorops_gateway_search_duration_seconds",
                sel,
                f"{by}, cached",
                f"{legend} cached={{{{cached}}}}",
            ),
            "s",
            "cached=true: answered from the search cache; false: embedded, searched in Qdrant (and joined "
            "with PostgreSQL where asked)",
        ),
        timeseries(
            "Search cache hit ratio",
            [(_ratio(lookups, ns, 'outcome="hit"', "namespace"), "{{namespace}}")],
            "percentunit",
            "Per gateway namespace (the lookups carry no collection); bypass: Redis unavailable",
        ),
        timeseries(
            "Search cache errors",
            [
                (
                    f"sum by (namespace) (rate(vectorops_gateway_search_cache_errors_total{{{ns}}}[{RATE}]))",
                    "{{namespace}}",
                )
            ],
            "ops",
            "Redis failures of the search cache: it is bypassed for a while, no search fails",
        ),
    ]
    repair = [
        timeseries(
            "Repaired rows /s by action",
            [(f"sum by ({by}, action) (rate({rows}{{{sel}}}[{RATE}]))", f"{legend} {{{{action}}}}")],
            "ops",
            "Unfinished writes the repair pass completed: committed (Qdrant had the point), reembedded, "
            "deleted",
            stack=True,
        ),
        timeseries(
            "Repair passes by outcome",
            [(f"sum by ({by}, outcome) (rate({runs}{{{sel}}}[{RATE}]))", f"{legend} {{{{outcome}}}}")],
            "ops",
            "ok; skipped: another replica held the collection's repair lock; failed: a store failed",
            stack=True,
        ),
        timeseries(
            "Collection bindings served",
            [(f"max by (namespace) (vectorops_gateway_collection_bindings{{{ns}}})", "{{namespace}}")],
            "none",
            "Bindings (vectorops-binding-* ConfigMaps) the gateway serves, the highest over its replicas",
        ),
        timeseries(
            "Binding errors",
            [
                (
                    "sum by (namespace) "
                    f"(rate(vectorops_gateway_collection_binding_errors_total{{{ns}}}[{RATE}]))",
                    "{{namespace}}",
                )
            ],
            "ops",
            "Binding ConfigMaps the gateway could not read (skipped: their collections get 404)",
        ),
    ]
    return [ingest, search, repair]


def dashboards() -> dict[str, Manifest]:
    """Every dashboard by name (its uid, and the stem of its file)."""
    built = [operator_dashboard(), embedders_dashboard(), gateway_dashboard(), collections_dashboard()]
    return {d["uid"]: d for d in built}


def to_json(board: Manifest) -> str:
    return json.dumps(board, indent=2) + "\n"


def config_map(name: str, board: Manifest) -> Manifest:
    """A ConfigMap the Grafana chart's sidecar loads: label grafana_dashboard "1", the JSON as <name>.json
    (its folder from the grafana_folder annotation, where the sidecar is set to read one)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-dashboard",
            "labels": {SIDECAR_LABEL: "1", "app.kubernetes.io/part-of": "vectorops"},
            "annotations": {FOLDER_ANNOTATION: "vectorops"},
        },
        "data": {f"{name}.json": to_json(board)},
    }


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the dashboards' JSON) as literal blocks, so the file reads and diffs well."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def render_all() -> dict[str, str]:
    """The files `vectorops dashboards` writes: <name>.json per dashboard and configmaps.yaml."""
    boards = dashboards()
    files = {f"{name}.json": to_json(board) for name, board in boards.items()}
    maps = [config_map(name, board) for name, board in boards.items()]
    files["configmaps.yaml"] = yaml.dump_all(maps, Dumper=_BlockDumper, sort_keys=False, width=120)
    return files
