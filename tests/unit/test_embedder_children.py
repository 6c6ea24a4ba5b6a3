"""The embedder's optional children (HPA, PodMonitor, PrometheusRule) and the reconciler's handling of
them and of status.dimension, with in-memory fakes for the Kubernetes writer and the embedder probe.
The alert rules are checked and unit-tested by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from vectorops.operator.adapters.embedder_probe import ProbeFailed
from vectorops.operator.api import EmbeddingModelSpec
from vectorops.operator.builders.embedder_autoscaling import build_autoscaler
from vectorops.operator.builders.embedder_monitoring import alert_rules, build_pod_monitor
from vectorops.operator.reconcilers.embeddingmodel import EmbedderReconciler
from vectorops.operator.reconcilers.outcome import Context

SOURCE = {"source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}}}


def spec(**fields: Any) -> EmbeddingModelSpec:
    return EmbeddingModelSpec.model_validate(SOURCE | fields)


def test_no_autoscaler_with_a_fixed_replica_count() -> None:
    assert build_autoscaler("m", spec(replicas=3)) is None


def test_autoscaler_scales_on_cpu_and_optionally_on_queue_depth() -> None:
    cpu_only = build_autoscaler(
        "m", spec(autoscaling={"maxReplicas": 4}, resources={"requests": {"cpu": "1"}})
    )
    assert cpu_only is not None
    assert [m["type"] for m in cpu_only["spec"]["metrics"]] == ["Resource"]
    both = build_autoscaler("m", spec(autoscaling={"maxReplicas": 4, "targetQueueDepth": 50}))
    assert both is not None
    assert both["spec"]["metrics"][1]["pods"]["target"] == {"type": "AverageValue", "averageValue": "50"}
    assert both["spec"]["scaleTargetRef"]["name"] == "m-embedder"


def test_monitoring_can_be_switched_off_piece_by_piece() -> None:
    assert build_pod_monitor("m", spec(monitoring={"podMonitor": False})) is None
    assert alert_rules("m", "ns", spec(monitoring={"alerts": {"enabled": False}})) == []
    rules = alert_rules("m", "ns", spec(batching={"maxQueueSize": 100}))
    backlog = next(r for r in rules if r["alert"] == "VectorOpsEmbedderQueueBacklog")
    assert backlog["expr"].endswith("> 80")  # 80% of the queue by default


# -- promtool ---------------------------------------------------------------------------------------

PROMTOOL_TEST = """
rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{namespace="ml",vectorops_io_embeddingmodel="minilm",pod="a"}'
        values: '1x5 0x10'
      - series: 'vectorops_embedder_requests_total{namespace="ml",vectorops_io_embeddingmodel="minilm",status="200"}'
        values: '0+90x20'
      - series: 'vectorops_embedder_requests_total{namespace="ml",vectorops_io_embeddingmodel="minilm",status="503"}'
        values: '0+10x20'
      - series: 'vectorops_embedder_queue_depth{namespace="ml",vectorops_io_embeddingmodel="minilm",pod="a"}'
        values: '3500x20'
      - series: 'vectorops_embedder_queue_depth{namespace="ml",vectorops_io_embeddingmodel="other",pod="b"}'
        values: '5000x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: VectorOpsEmbedderDown
        exp_alerts: []
      - eval_time: 15m
        alertname: VectorOpsEmbedderDown
        exp_alerts:
          - exp_labels: {severity: critical, namespace: ml, embeddingmodel: minilm}
            exp_annotations:
              summary: "EmbeddingModel ml/minilm: no embedder replica is up"
              description: "No pod of the embedder has answered a scrape for 5 minutes; embeddings through it fail."
              runbook_url: docs/runbooks/VectorOpsEmbedderDown.md
      - eval_time: 15m
        alertname: VectorOpsEmbedderErrors
        exp_alerts:
          - exp_labels: {severity: warning, namespace: ml, embeddingmodel: minilm}
            exp_annotations:
              summary: "EmbeddingModel ml/minilm: more than 5% of requests fail"
              description: "10% of embedding requests end in a 5xx."
              runbook_url: docs/runbooks/VectorOpsEmbedderErrors.md
      - eval_time: 15m
        alertname: VectorOpsEmbedderQueueBacklog
        exp_alerts:
          - exp_labels: {severity: warning, namespace: ml, embeddingmodel: minilm}
            exp_annotations:
              summary: "EmbeddingModel ml/minilm: more than 3276 texts waiting"
              description: "The batching queue stays long (429s follow when it fills); scale out or raise maxBatchSize."
              runbook_url: docs/runbooks/VectorOpsEmbedderQueueBacklog.md
      - eval_time: 15m
        alertname: VectorOpsEmbedderCacheUnavailable
        exp_alerts: []
  # No target at all (the pods are gone, or never scraped): `up` has no series, and the alert must
  # fire all the same. Another model's targets are up and change nothing.
  - interval: 1m
    input_series:
      - series: 'up{namespace="ml",vectorops_io_embeddingmodel="other",pod="b"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: VectorOpsEmbedderDown
        exp_alerts: []
      - eval_time: 6m
        alertname: VectorOpsEmbedderDown
        exp_alerts:
          - exp_labels: {severity: critical, namespace: ml, embeddingmodel: minilm}
            exp_annotations:
              summary: "EmbeddingModel ml/minilm: no embedder replica is up"
              description: "No pod of the embedder has answered a scrape for 5 minutes; embeddings through it fail."
              runbook_url: docs/runbooks/VectorOpsEmbedderDown.md
"""


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run hack/system-deps.sh (Debian package prometheus)")
    return found


def test_alert_rules_pass_promtool_check_and_fire_as_intended(tmp_path: Path) -> None:
    rules = alert_rules("minilm", "ml", spec())
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "embedder", "rules": rules}]}))
    (tmp_path / "test.yaml").write_text(PROMTOOL_TEST)
    check = subprocess.run(
        [promtool(), "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [promtool(), "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert test.returncode == 0, test.stdout + test.stderr


# -- the reconciler with fakes ----------------------------------------------------------------------


class FakeWriter:
    def __init__(self, monitoring_crds: bool = True) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.monitoring_crds = monitoring_crds

    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        stored = dict(manifest)
        if manifest["kind"] == "Deployment":
            replicas = manifest["spec"].get("replicas", 2)
            stored["metadata"] = {**manifest["metadata"], "generation": 1}
            stored["status"] = {
                "observedGeneration": 1,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "readyReplicas": replicas,
                "replicas": replicas,
            }
        self.objects[(manifest["kind"], manifest["metadata"]["name"])] = stored
        return stored

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, name))

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        return self.objects.pop((kind, name), None) is not None

    async def served(self, api_version: str, kind: str) -> bool:
        return self.monitoring_crds or not api_version.startswith("monitoring.coreos.com")

    async def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return []  # Deployments roll out at once here: no pod is asked about


class FakeProbe:
    def __init__(self, answer: int | Exception) -> None:
        self.answer, self.calls = answer, 0

    async def dimension(self, namespace: str, service: str, port: int) -> int:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class NoKube:
    async def secret_keys(self, namespace: str, name: str) -> None:
        return None

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> None:
        return None

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return False


def ctx(spec_: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1) -> Context:
    return Context(
        "minilm", "ml", "uid-1", generation, SOURCE | spec_, status or {}, NoKube(), datetime.now(UTC)
    )  # type: ignore[arg-type]


def cond(outcome, type_: str) -> dict[str, Any]:
    return next(c for c in outcome.conditions if c["type"] == type_)


async def test_dimension_is_asked_once_ready_and_kept_while_the_model_identity_is_unchanged() -> None:
    writer, probe = FakeWriter(), FakeProbe(384)
    reconciler = EmbedderReconciler(writer, probe, "img", None)
    autoscaled = {"autoscaling": {"maxReplicas": 3}, "resources": {"requests": {"cpu": "1"}}}
    first = await reconciler.reconcile(ctx(autoscaled))
    assert first.extra_status["dimension"] == 384 and probe.calls == 1
    assert cond(first, "Ready")["status"] == "True"
    status = {"observedGeneration": 1, **first.extra_status, "conditions": first.conditions}
    again = await reconciler.reconcile(ctx(autoscaled, status))
    assert again.extra_status["dimension"] == 384 and probe.calls == 1  # not asked again
    assert ("HorizontalPodAutoscaler", "minilm-embedder") in writer.objects
    # A new generation that serves the same vectors (fixed replicas now) keeps the dimension: bound
    # collections do not flap. The HPA goes.
    changed = await reconciler.reconcile(ctx({"replicas": 1}, status, generation=2))
    assert probe.calls == 1 and changed.extra_status["dimension"] == 384
    assert ("HorizontalPodAutoscaler", "minilm-embedder") not in writer.objects
    # Another pooling may change the vectors: asked again.
    pooled = await reconciler.reconcile(ctx({"replicas": 1, "pooling": "cls"}, status, generation=3))
    assert probe.calls == 2 and pooled.extra_status["modelIdentity"] != status["modelIdentity"]


async def test_a_failed_probe_leaves_the_dimension_unknown_and_says_why() -> None:
    reconciler = EmbedderReconciler(FakeWriter(), FakeProbe(ProbeFailed("GET ... answered 503")), "img", None)
    result = await reconciler.reconcile(ctx({"replicas": 1}))
    assert result.extra_status["dimension"] is None
    assert "dimension not known yet: GET ... answered 503" in cond(result, "Ready")["message"]


async def test_without_prometheus_operator_crds_monitoring_says_so_and_ready_is_unaffected() -> None:
    writer = FakeWriter(monitoring_crds=False)
    result = await EmbedderReconciler(writer, FakeProbe(384), "img", None).reconcile(ctx({"replicas": 1}))
    monitoring = cond(result, "Monitoring")
    assert (monitoring["status"], monitoring["reason"]) == ("False", "PrometheusOperatorMissing")
    assert cond(result, "Ready")["status"] == "True"
    assert not any(kind in ("PodMonitor", "PrometheusRule") for kind, _ in writer.objects)
    # The alert rules still reach a plain Prometheus: a rules ConfigMap, and Alerts says so.
    assert cond(result, "Alerts")["reason"] == "RulesInConfigMap"
    assert ("ConfigMap", "minilm-embedder") in writer.objects


async def test_monitoring_children_follow_the_spec_and_someone_elses_object_is_left_alone() -> None:
    writer = FakeWriter()
    reconciler = EmbedderReconciler(writer, FakeProbe(384), "img", None)
    on = await reconciler.reconcile(ctx({"replicas": 1}))
    assert cond(on, "Monitoring")["message"] == "PodMonitor minilm-embedder applied"
    alerts = cond(on, "Alerts")
    assert (alerts["reason"], alerts["message"]) == (
        "Synced",
        "PrometheusRule minilm-embedder applied (6 alerts)",
    )
    off = {"replicas": 1, "monitoring": {"podMonitor": False, "alerts": {"enabled": False}}}
    result = await reconciler.reconcile(ctx(off))
    assert cond(result, "Monitoring")["reason"] == "Disabled"
    assert not any(c["type"] == "Alerts" for c in result.conditions)  # rules off: no Alerts condition
    assert not any(kind in ("PodMonitor", "PrometheusRule") for kind, _ in writer.objects)
    # An HPA of the same name that we did not make is never deleted.
    writer.objects[("HorizontalPodAutoscaler", "minilm-embedder")] = {"metadata": {"ownerReferences": []}}
    await reconciler.reconcile(ctx(off))
    assert ("HorizontalPodAutoscaler", "minilm-embedder") in writer.objects
