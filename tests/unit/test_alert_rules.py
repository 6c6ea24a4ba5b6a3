"""The rule groups of VectorCollections, ExternalModelEndpoints and the operator: rendered by `vectorops
rules` for examples/, checked and unit-tested by the real promtool, every metric they name registered by
the code, every runbook present."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.metric_names import METRIC, registered_names
from vectorops.cli import main as cli_main
from vectorops.operator.api import EmbeddingModelSpec, VectorCollectionSpec
from vectorops.operator.builders.alert_rules import collection_rules, endpoint_rules, operator_rules
from vectorops.operator.builders.embedder_monitoring import alert_rules as embedder_rules
from vectorops.operator.builders.embedder_monitoring import rule_group as embedder_group

REPO = Path(__file__).resolve().parents[2]
Rule = dict[str, Any]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run hack/system-deps.sh (Debian package prometheus)")
    return found


def run_promtool(*args: str, cwd: Path) -> None:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def vcol(**alerts: Any) -> VectorCollectionSpec:
    return VectorCollectionSpec.model_validate({"vectors": {"size": 3}, "alerts": alerts})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rules")
    assert cli_main(["rules", "--output", str(out), "--examples", str(REPO / "examples")]) == 0
    return out


def rules_of(files: Iterator[Path]) -> Iterator[Rule]:
    for path in files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


# -- rendering ----------------------------------------------------------------------------------------


def test_every_example_object_with_rules_gets_a_file_that_promtool_accepts(rendered: Path) -> None:
    names = sorted(p.name for p in rendered.iterdir())
    assert names == [
        "embeddingmodel-default-bge-large.rules.yaml",
        "embeddingmodel-default-minilm.rules.yaml",
        "externalmodelendpoint-default-hosted-e5.rules.yaml",
        "externalmodelendpoint-default-openai.rules.yaml",
        "externalmodelendpoint-default-tei-e5.rules.yaml",
        "operator.rules.yaml",
        # support-tickets asks for no alerts: no file
        "vectorcollection-default-articles.rules.yaml",
    ]
    run_promtool("check", "rules", *names, cwd=rendered)


def test_a_stale_rule_file_is_removed_and_others_are_left(rendered: Path, tmp_path: Path) -> None:
    (tmp_path / "gone.rules.yaml").write_text("groups: []\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    assert cli_main(["rules", "--output", str(tmp_path), "--examples", str(REPO / "examples")]) == 0
    assert not (tmp_path / "gone.rules.yaml").exists() and (tmp_path / "notes.txt").exists()


def test_collection_rules_only_when_asked_for() -> None:
    assert collection_rules("c", "ns", VectorCollectionSpec.model_validate({"vectors": {"size": 3}})) is None
    assert collection_rules("c", "ns", vcol(enabled=False)) is None
    group = collection_rules("c", "ns", vcol(severity="critical", notGreenForMinutes=30))
    assert group is not None and group["name"] == "vectorops-collection-ns-c"
    not_green = group["rules"][0]
    assert (not_green["for"], not_green["labels"]["severity"]) == ("30m", "critical")


def test_dots_in_an_endpoint_name_are_literal_in_the_backend_regex() -> None:
    breaker = endpoint_rules("a.b", "ns")["rules"][2]
    assert 'backend=~"ExternalModelEndpoint/a\\\\.b:.*"' in breaker["expr"]


# -- what the rules name exists ------------------------------------------------------------------------


def all_rules(rendered: Path) -> list[Rule]:
    return list(rules_of(rendered.glob("*.rules.yaml")))


def test_every_metric_a_rule_reads_is_registered_by_the_code(rendered: Path) -> None:
    known = registered_names()
    # A few the gauges only show with objects behind them, and one a typo would look like.
    assert {
        "vectorops_collection_points",
        "vectorops_endpoint_healthy",
        "vectorops_gateway_breaker_state",
    } <= known
    assert "vectorops_gateway_upstream_requests_total" in known
    used = {m for r in all_rules(rendered) for m in METRIC.findall(r["expr"])}
    assert used, "no metric found in the rules"
    assert used <= known, f"not registered by any metrics class: {sorted(used - known)}"
    ups = [r for r in all_rules(rendered) if re.search(r"(?<![\w:])up\{", r["expr"])]
    assert ups  # EmbedderDown, OperatorDown


def test_a_misspelt_metric_is_caught() -> None:
    expr = 'vectorops_colection_points{vectorops_io_embeddingmodel="m"} == 0'
    assert METRIC.findall(expr) == ["vectorops_colection_points"]
    assert "vectorops_colection_points" not in registered_names()


def test_every_alert_has_severity_summary_description_and_an_existing_runbook(rendered: Path) -> None:
    alerts = [r for r in all_rules(rendered) if "alert" in r]
    assert len({a["alert"] for a in alerts}) == 21
    for a in alerts:
        assert a["labels"]["severity"] in {"info", "warning", "critical"}, a["alert"]
        notes = a["annotations"]
        assert notes["summary"] and notes["description"], a["alert"]
        assert notes["runbook_url"] == f"docs/runbooks/{a['alert']}.md"
        assert (REPO / notes["runbook_url"]).is_file(), f"{a['alert']}: no runbook"
    records = [r["record"] for r in all_rules(rendered) if "record" in r]
    assert records and all(re.fullmatch(r"[a-z_]+:vectorops_[a-z_]+:[a-z0-9_]+", r) for r in records)


# -- promtool unit tests: each alert fires above its threshold and not below ------------------------

SUBSTITUTIONS = (
    "{{ $labels.status }}",
    "{{ $labels.kind }}",
    "{{ $labels.reason }}",
    "{{ $labels.backend }}",
)


def expect(rule: Rule, labels: dict[str, str], value: str = "") -> dict[str, Any]:
    """The alert promtool should see: the rule's labels over the series', its annotations expanded."""
    notes = {}
    for key, text in rule["annotations"].items():
        for template in SUBSTITUTIONS:
            text = text.replace(template, labels.get(template.split(".")[1].rstrip(" }"), ""))
        notes[key] = re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
    return {"exp_labels": {**labels, **rule["labels"]}, "exp_annotations": notes}


def by_name(groups: list[dict[str, Any]]) -> dict[tuple[str, str], Rule]:
    return {(g["name"], r["alert"]): r for g in groups for r in g["rules"] if "alert" in r}


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


def case(at: str, alert: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": list(alerts)}


def test_rules_fire_as_intended(tmp_path: Path) -> None:
    articles = collection_rules("articles", "ml", vcol(severity="critical", notGreenForMinutes=10))
    small = collection_rules("small", "ml", vcol())
    assert articles is not None and small is not None
    groups = [articles, small, endpoint_rules("tei", "ml"), endpoint_rules("hosted", "ml"), operator_rules()]
    r = by_name(groups)
    ca, ea, op = "vectorops-collection-ml-articles", "vectorops-endpoint-ml-tei", "vectorops-operator"
    col = {"namespace": "ml", "collection": "articles"}
    tei, hosted = {"namespace": "ml", "endpoint": "tei"}, {"namespace": "ml", "endpoint": "hosted"}
    tei_backend = {"namespace": "ml", "route": "e5", "backend": "ExternalModelEndpoint/tei:e5"}
    hosted_backend = {"namespace": "ml", "route": "e5", "backend": "ExternalModelEndpoint/hosted:e5"}
    calls = "vectorops_gateway_upstream_requests_total"
    tests = [
        {  # collections: articles turns yellow and stays 75% indexed; small is under the points floor
            "interval": "1m",
            "input_series": [
                series("vectorops_collection_status", "1x5 0x20", **col, status="green"),
                series("vectorops_collection_status", "0x5 1x20", **col, status="yellow"),
                series(
                    "vectorops_collection_status", "1x25", namespace="ml", collection="small", status="green"
                ),
                series(
                    "vectorops_collection_status", "1x25", namespace="ml", collection="gone", status="red"
                ),
                series("vectorops_collection_points", "200000x25", **col),
                series("vectorops_collection_indexed_vectors", "150000x25", **col),
                series("vectorops_collection_points", "50000x25", namespace="ml", collection="small"),
                series("vectorops_collection_indexed_vectors", "0x25", namespace="ml", collection="small"),
            ],
            "alert_rule_test": [
                case("15m", "VectorOpsCollectionNotGreen"),
                case(
                    "17m",
                    "VectorOpsCollectionNotGreen",
                    expect(r[ca, "VectorOpsCollectionNotGreen"], {**col, "status": "yellow"}),
                ),
                case("10m", "VectorOpsCollectionIndexLagging"),
                case(
                    "20m",
                    "VectorOpsCollectionIndexLagging",
                    expect(r[ca, "VectorOpsCollectionIndexLagging"], col, "75%"),
                ),
                case("20m", "VectorOpsCollectionPointsDropped"),
            ],
        },
        {  # points: articles loses 60%, small 40%
            "interval": "1m",
            "input_series": [
                series("vectorops_collection_points", "1000x5 400x15", **col),
                series("vectorops_collection_points", "1000x5 600x15", namespace="ml", collection="small"),
            ],
            "alert_rule_test": [
                case("5m", "VectorOpsCollectionPointsDropped"),
                case(
                    "7m",
                    "VectorOpsCollectionPointsDropped",
                    expect(r[ca, "VectorOpsCollectionPointsDropped"], col, "400"),
                ),
                case("17m", "VectorOpsCollectionPointsDropped"),  # the 1000 left the 10m window
            ],
        },
        {  # endpoints: tei fails, hosted stays below every threshold
            "interval": "1m",
            "input_series": [
                series("vectorops_endpoint_probe_failures", "0x5 1 2 3+1x20", **tei),
                series("vectorops_endpoint_probe_failures", "0x5 1 2 0x20", **hosted),
                series("vectorops_endpoint_healthy", "1x7 0x20", **tei),
                series("vectorops_endpoint_healthy", "1x27", **hosted),
                series("vectorops_gateway_breaker_state", "0x5 1x20", **tei_backend, state="open"),
                series("vectorops_gateway_breaker_state", "1x5 0x20", **tei_backend, state="closed"),
                # another endpoint whose name starts with tei: not tei's
                series(
                    "vectorops_gateway_breaker_state",
                    "1x25",
                    namespace="ml",
                    backend="ExternalModelEndpoint/teix:e5",
                    state="open",
                ),
                series("vectorops_gateway_breaker_state", "0x25", **hosted_backend, state="open"),
                series(calls, "0+90x25", **tei_backend, outcome="ok"),
                series(calls, "0+10x25", **tei_backend, outcome="503"),
                series(calls, "0+98x25", **hosted_backend, outcome="ok"),
                series(calls, "0+2x25", **hosted_backend, outcome="error"),
            ],
            "alert_rule_test": [
                case("12m", "VectorOpsEndpointProbeFailing"),
                case(
                    "14m",
                    "VectorOpsEndpointProbeFailing",
                    expect(r[ea, "VectorOpsEndpointProbeFailing"], tei, "9"),
                ),
                case("12m", "VectorOpsEndpointUnhealthy"),
                case("14m", "VectorOpsEndpointUnhealthy", expect(r[ea, "VectorOpsEndpointUnhealthy"], tei)),
                case("15m", "VectorOpsEndpointBreakerOpen"),
                case(
                    "17m",
                    "VectorOpsEndpointBreakerOpen",
                    expect(r[ea, "VectorOpsEndpointBreakerOpen"], {"backend": tei_backend["backend"]}),
                ),
                case("20m", "VectorOpsEndpointErrors", expect(r[ea, "VectorOpsEndpointErrors"], {}, "10%")),
            ],
        },
        {  # the operator: its target goes down; crashes and stuck objects
            "interval": "1m",
            "input_series": [
                series("up", "1x5 0x20", job="vectorops-operator", instance="a"),
                series("up", "1x25", job="gateway", instance="b"),
                series(
                    "vectorops_operator_reconcile_errors_total",
                    "0+1x25",
                    kind="VectorCollection",
                    reason="ReconcileError",
                ),
                series(
                    "vectorops_operator_reconcile_errors_total",
                    "0+5x25",
                    kind="VectorStore",
                    reason="StoreNotFound",
                ),
                series(
                    "vectorops_operator_objects",
                    "2x25",
                    kind="VectorCollection",
                    ready="False",
                    reason="StoreNotFound",
                ),
                series(
                    "vectorops_operator_objects",
                    "3x25",
                    kind="EmbeddingModel",
                    ready="True",
                    reason="Available",
                ),
                # passes stop at minute 0: the oldest last pass ages a minute a minute (resync 60 s)
                series("vectorops_operator_oldest_pass_age_seconds", "0+60x25"),
                series("vectorops_operator_resync_interval_seconds", "60x25"),
            ],
            "alert_rule_test": [
                case("10m", "VectorOpsOperatorDown"),
                case("12m", "VectorOpsOperatorDown", expect(r[op, "VectorOpsOperatorDown"], {})),
                case("5m", "VectorOpsOperatorReconcileErrors"),
                case(
                    "20m",
                    "VectorOpsOperatorReconcileErrors",
                    expect(r[op, "VectorOpsOperatorReconcileErrors"], {"kind": "VectorCollection"}, "10"),
                ),
                case("8m", "VectorOpsOperatorStaleResyncs"),
                case(
                    "10m",
                    "VectorOpsOperatorStaleResyncs",
                    expect(r[op, "VectorOpsOperatorStaleResyncs"], {}, "10m 0s"),
                ),
                case("14m", "VectorOpsObjectsNotReady"),
                case(
                    "16m",
                    "VectorOpsObjectsNotReady",
                    expect(
                        r[op, "VectorOpsObjectsNotReady"],
                        {"kind": "VectorCollection", "reason": "StoreNotFound"},
                        "2",
                    ),
                ),
            ],
        },
        {  # no operator target at all
            "interval": "1m",
            "input_series": [series("up", "1x10", job="gateway", instance="b")],
            "alert_rule_test": [
                case("4m", "VectorOpsOperatorDown"),
                case("6m", "VectorOpsOperatorDown", expect(r[op, "VectorOpsOperatorDown"], {})),
            ],
        },
        {  # the recording rules
            "interval": "1m",
            "input_series": [
                series(calls, "0+60x10", **tei_backend, outcome="ok"),
                series(calls, "0+120x10", **hosted_backend, outcome="ok"),
                series("vectorops_operator_reconcile_total", "0+60x10", kind="VectorStore", outcome="Synced"),
            ],
            "promql_expr_test": [
                {
                    "expr": "namespace:vectorops_gateway_upstream_requests:rate5m",
                    "eval_time": "10m",
                    "exp_samples": [
                        {
                            "labels": 'namespace:vectorops_gateway_upstream_requests:rate5m{namespace="ml"}',
                            "value": 3,
                        }
                    ],
                },
                {
                    "expr": "kind:vectorops_operator_reconcile:rate5m",
                    "eval_time": "10m",
                    "exp_samples": [
                        {"labels": 'kind:vectorops_operator_reconcile:rate5m{kind="VectorStore"}', "value": 1}
                    ],
                },
            ],
        },
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    run_promtool("test", "rules", "test.yaml", cwd=tmp_path)


def test_collection_data_path_alerts_fire_as_intended(tmp_path: Path) -> None:
    """The gateway's data path per VectorCollection: articles (the defaults) fails 10% of its ingest
    requests, its repair passes stop completing, its uncached searches take 1 to 2.5 s; small fails half
    of too few requests, has a pass completing beside its failing ones, and searches within its own
    threshold (its cached answers are slow, and are not what the alert reads); fine fails 2%."""
    articles = collection_rules("articles", "ml", vcol(severity="critical"))
    small = collection_rules("small", "ml", vcol(searchP99Seconds=3))
    fine = collection_rules("fine", "ml", vcol())
    assert articles is not None and small is not None and fine is not None
    r = by_name([articles, small, fine])
    ca = "vectorops-collection-ml-articles"
    col = {"namespace": "ml", "collection": "articles"}
    other = {"namespace": "ml", "collection": "small"}
    batches, runs = "vectorops_gateway_ingest_batches_total", "vectorops_gateway_repair_runs_total"
    bucket = "vectorops_gateway_search_duration_seconds_bucket"
    upsert = {"operation": "upsert"}
    tests = [
        {
            "interval": "1m",
            "input_series": [
                series(batches, "0+90x40", **col, **upsert, outcome="ok"),
                series(batches, "0+10x40", **col, **upsert, outcome="QdrantUnavailable"),
                series(batches, "0+0.3x40", **other, **upsert, outcome="ok"),
                series(batches, "0+0.3x40", **other, **upsert, outcome="PostgresUnavailable"),
                series(batches, "0+98x40", namespace="ml", collection="fine", **upsert, outcome="ok"),
                series(
                    batches,
                    "0+2x40",
                    namespace="ml",
                    collection="fine",
                    operation="delete",
                    outcome="timeout",
                ),
                # articles: passes complete until minute 5, then only fail; small: both, every minute
                series(runs, "0+1x5 5x35", **col, outcome="ok"),
                series(runs, "0x5 1+1x35", **col, outcome="failed"),
                series(runs, "0+1x40", **other, outcome="ok"),
                series(runs, "0+1x40", **other, outcome="failed"),
                # articles: every uncached search between 1 and 2.5 s, every cached one under 5 ms
                *(series(bucket, "0x40", **col, cached="false", le=le) for le in ("0.5", "1")),
                *(series(bucket, "0+100x40", **col, cached="false", le=le) for le in ("2.5", "+Inf")),
                *(series(bucket, "0+100x40", **col, cached="true", le=le) for le in ("0.005", "+Inf")),
                # small: uncached between 1 and 2.5 s (its threshold is 3 s), cached ones 5 to 10 s
                *(series(bucket, "0x40", **other, cached="false", le=le) for le in ("0.5", "1")),
                *(series(bucket, "0+100x40", **other, cached="false", le=le) for le in ("2.5", "+Inf")),
                *(series(bucket, "0x40", **other, cached="true", le=le) for le in ("1", "5")),
                *(series(bucket, "0+100x40", **other, cached="true", le=le) for le in ("10", "+Inf")),
            ],
            "alert_rule_test": [
                case("4m", "VectorOpsCollectionIngestFailing"),
                case(
                    "10m",
                    "VectorOpsCollectionIngestFailing",
                    expect(r[ca, "VectorOpsCollectionIngestFailing"], {}, "10%"),
                ),
                case("19m", "VectorOpsCollectionRepairFailing"),
                case(
                    "28m",
                    "VectorOpsCollectionRepairFailing",
                    expect(r[ca, "VectorOpsCollectionRepairFailing"], {}),
                ),
                case("9m", "VectorOpsCollectionSearchSlow"),
                case(
                    "15m",
                    "VectorOpsCollectionSearchSlow",
                    expect(r[ca, "VectorOpsCollectionSearchSlow"], {}, "2.485s"),
                ),
            ],
        },
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [articles, small, fine]}))
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    run_promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    run_promtool("test", "rules", "test.yaml", cwd=tmp_path)


def test_data_path_thresholds_come_from_the_spec_and_the_crd_bounds_them() -> None:
    group = collection_rules("c", "ns", vcol(ingestErrorRatio=0.2, searchP99Seconds=0.25))
    assert group is not None
    exprs = {rule["alert"]: rule["expr"] for rule in group["rules"]}
    assert "> 0.2 and " in exprs["VectorOpsCollectionIngestFailing"]
    assert exprs["VectorOpsCollectionSearchSlow"].endswith(" > 0.25")
    assert 'namespace="ns",collection="c",cached="false"' in exprs["VectorOpsCollectionSearchSlow"]
    for bad in ({"ingestErrorRatio": 0}, {"ingestErrorRatio": 1.5}, {"searchP99Seconds": 0}):
        with pytest.raises(ValidationError, match=r"greater than|less than"):
            vcol(**bad)


def test_embedder_latency_and_cache_alerts_fire_as_intended(tmp_path: Path) -> None:
    """The EmbeddingModel alerts test_embedder_children.py does not make fire: p99 latency (minilm's
    above 2 s, fast's below) and the cache (minilm's failing, fast's not)."""
    spec = EmbeddingModelSpec.model_validate({"source": {"huggingFace": {"repo": "org/m"}}})
    gpu = EmbeddingModelSpec.model_validate(
        {"source": {"huggingFace": {"repo": "org/m"}}, "device": "gpu", "gpu": {"count": 1}}
    )
    groups = [embedder_group(m, "ml", embedder_rules(m, "ml", spec)) for m in ("minilm", "fast")]
    groups.append(embedder_group("big", "ml", embedder_rules("big", "ml", gpu)))
    r = by_name(groups)
    minilm, big = "vectorops-embedder-ml-minilm", "vectorops-embedder-ml-big"
    assert (minilm, "VectorOpsEmbedderDeviceMemoryHigh") not in r  # a CPU model has no GPU memory to watch
    where = {"namespace": "ml", "vectorops_io_embeddingmodel": "minilm"}
    other = {"namespace": "ml", "vectorops_io_embeddingmodel": "fast"}
    on_gpu = {"namespace": "ml", "vectorops_io_embeddingmodel": "big"}
    bucket = "vectorops_embedder_request_duration_seconds_bucket"
    lookups = "vectorops_embedder_cache_lookups_total"
    tests = [
        {
            "interval": "1m",
            "input_series": [
                # minilm: every request between 2.5 and 5 s; fast: every request under 1 s
                *(series(bucket, "0x20", **where, le=le) for le in ("1", "2.5")),
                *(series(bucket, "0+100x20", **where, le=le) for le in ("5", "+Inf")),
                *(series(bucket, "0+100x20", **other, le=le) for le in ("1", "2.5", "5", "+Inf")),
                series("vectorops_embedder_cache_errors_total", "0+1x20", **where),
                series("vectorops_embedder_cache_errors_total", "0x20", **other),
                # big: 95% of its GPU's memory allocated
                series("vectorops_embedder_device_memory_bytes", "95x20", **on_gpu, pod="big-0"),
                series("vectorops_embedder_device_memory_total_bytes", "100x20", **on_gpu, pod="big-0"),
            ],
            "alert_rule_test": [
                case("9m", "VectorOpsEmbedderHighLatency"),
                case(
                    "15m",
                    "VectorOpsEmbedderHighLatency",
                    expect(r[minilm, "VectorOpsEmbedderHighLatency"], {}, "4.975s"),
                ),
                case("9m", "VectorOpsEmbedderCacheUnavailable"),
                case(
                    "15m",
                    "VectorOpsEmbedderCacheUnavailable",
                    expect(r[minilm, "VectorOpsEmbedderCacheUnavailable"], {}),
                ),
                case("9m", "VectorOpsEmbedderDeviceMemoryHigh"),
                case(
                    "15m",
                    "VectorOpsEmbedderDeviceMemoryHigh",
                    expect(r[big, "VectorOpsEmbedderDeviceMemoryHigh"], {}),
                ),
            ],
        },
        {
            # minilm: 80% hits for over six hours, then 10%; fast: 80% throughout
            "interval": "1m",
            "input_series": [
                series(lookups, "0+80x380 30410+10x60", **where, result="hit"),
                series(lookups, "0+20x380 7690+90x60", **where, result="miss"),
                series(lookups, "0+80x440", **other, result="hit"),
                series(lookups, "0+20x440", **other, result="miss"),
            ],
            "alert_rule_test": [
                case("375m", "VectorOpsEmbedderCacheHitRateCollapsed"),
                case(
                    "430m",
                    "VectorOpsEmbedderCacheHitRateCollapsed",
                    expect(r[minilm, "VectorOpsEmbedderCacheHitRateCollapsed"], {}),
                ),
            ],
        },
    ]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    run_promtool("test", "rules", "test.yaml", cwd=tmp_path)


def test_embedding_model_rules_carry_runbooks_too() -> None:
    spec = EmbeddingModelSpec.model_validate({"source": {"huggingFace": {"repo": "org/m"}}})
    for rule in embedder_rules("m", "ns", spec):
        assert rule["annotations"]["runbook_url"] == f"docs/runbooks/{rule['alert']}.md"
