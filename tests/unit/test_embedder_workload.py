"""The embedder Deployment/Service builder against golden files (CPU and GPU), plus rollout readiness.

Regenerate the golden files after an intended change: UPDATE_GOLDEN=1 pytest tests/unit/test_embedder_workload.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from vectorops.operator.api import EmbeddingModelSpec
from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.builders.embedder_autoscaling import build_autoscaler
from vectorops.operator.builders.embedder_monitoring import alert_rules, build_pod_monitor, rule_group
from vectorops.operator.builders.embedder_workload import (
    build_deployment,
    build_service,
    labels,
    workload_name,
)
from vectorops.operator.builders.rule_delivery import prometheus_rule
from vectorops.operator.reconcilers.embeddingmodel import rollout_condition

GOLDEN = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/vectorops/vectorops:test"


def example(path: str) -> EmbeddingModelSpec:
    doc = next(d for d in yaml.safe_load_all((REPO / path).read_text()) if d["kind"] == "EmbeddingModel")
    return EmbeddingModelSpec.model_validate(doc["spec"])


CASES = {
    "embedder-cpu": (example("examples/quickstart/10-embeddingmodel.yaml"), "minilm", None),
    "embedder-gpu": (
        example("examples/production/gpu-embeddingmodel.yaml"),
        "bge-large",
        SecretKeyRef(name="vectorops-redis", key="url"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    spec, name, redis = CASES[case]
    children = [
        build_deployment(name, spec, IMAGE, redis),
        build_service(name),
        build_autoscaler(name, spec),
        build_pod_monitor(name, spec),
        prometheus_rule(workload_name(name), labels(name), rule_group(name, "ml", rules))
        if (rules := alert_rules(name, "ml", spec))
        else None,
    ]
    rendered = yaml.safe_dump_all([c for c in children if c is not None], sort_keys=True)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered)
    assert rendered == path.read_text(), (
        f"{path} differs: rerun with UPDATE_GOLDEN=1 if the change is intended"
    )


def test_gpu_placement_and_restricted_pod() -> None:
    spec, name, redis = CASES["embedder-gpu"]
    pod = build_deployment(name, spec, IMAGE, redis)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e for e in container["env"]}
    assert env["VECTOROPS_EMBEDDER_DEVICE"]["value"] == "cuda"
    assert env["VECTOROPS_EMBEDDER_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "vectorops-redis",
        "key": "url",
    }
    assert "replicas" not in build_deployment(name, spec, IMAGE, redis)["spec"]  # autoscaling owns it


def test_cpu_has_no_gpu_and_a_fixed_replica_count() -> None:
    spec, name, _ = CASES["embedder-cpu"]
    deployment = build_deployment(name, spec, IMAGE, None)
    assert deployment["spec"]["replicas"] == 1
    assert "nvidia.com/gpu" not in str(deployment)
    assert "VECTOROPS_EMBEDDER_REDIS_URL" not in str(deployment)


@pytest.mark.parametrize(
    ("deployment", "status", "reason"),
    [
        (
            {
                "metadata": {"generation": 2},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 2,
                    "updatedReplicas": 2,
                    "availableReplicas": 2,
                    "readyReplicas": 2,
                },
            },
            "True",
            "Available",
        ),
        (
            {
                "metadata": {"generation": 3},
                "spec": {"replicas": 2},  # the controller has not seen generation 3
                "status": {
                    "observedGeneration": 2,
                    "updatedReplicas": 2,
                    "availableReplicas": 2,
                    "readyReplicas": 2,
                },
            },
            "False",
            "RollingOut",
        ),
        (
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 1, "updatedReplicas": 1, "availableReplicas": 1},
            },
            "False",
            "RollingOut",
        ),
        ({"metadata": {"generation": 1}, "spec": {"replicas": 0}, "status": {}}, "False", "ScaledToZero"),
    ],
)
def test_rollout_condition(deployment, status, reason) -> None:
    condition = rollout_condition(deployment)
    assert (condition.status.value, condition.reason) == (status, reason)
