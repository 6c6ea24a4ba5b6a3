"""EmbeddingModel spec.autoscaling -> an autoscaling/v2 HorizontalPodAutoscaler for the embedder."""

from __future__ import annotations

from typing import Any

from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.builders.embedder_workload import labels, workload_name

Manifest = dict[str, Any]
QUEUE_METRIC = "vectorops_embedder_queue_depth"


def build_autoscaler(model: str, spec: EmbeddingModelSpec) -> Manifest | None:
    """The HPA, or None when the spec fixes the replica count (the reconciler then removes any HPA)."""
    scaling = spec.autoscaling
    if scaling is None:
        return None
    metrics: list[Manifest] = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": scaling.target_cpu_utilization},
            },
        }
    ]
    if scaling.target_queue_depth is not None:
        metrics.append(
            {
                "type": "Pods",
                "pods": {
                    "metric": {"name": QUEUE_METRIC},
                    "target": {"type": "AverageValue", "averageValue": str(scaling.target_queue_depth)},
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": workload_name(model), "labels": labels(model)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_name(model)},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
            # A model takes minutes to load: scale down slowly so a burst does not thrash pods.
            "behavior": {
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                }
            },
        },
    }
