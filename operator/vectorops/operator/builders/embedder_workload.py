"""EmbeddingModel -> the embedder's Deployment and Service (plain dicts; the reconciler adds ownership)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.api.embeddingmodel import Device, EmbeddingModelSpec

Manifest = dict[str, Any]
PORT = 8080
SERVICE_PORT = 80
MODELS_MOUNT = "/models"
CACHE_MOUNT = "/cache"
MODEL_LABEL = "vectorops.io/embeddingmodel"  # on the Deployment, its pods and the Service's selector


def workload_name(model: str) -> str:
    return f"{model}-embedder"


def labels(model: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "vectorops-embedder",
        "app.kubernetes.io/instance": model,
        "app.kubernetes.io/component": "embedder",
        "app.kubernetes.io/managed-by": "vectorops",
        MODEL_LABEL: model,
    }


def _env(model: str, spec: EmbeddingModelSpec, redis_url: SecretKeyRef | None) -> list[Manifest]:
    source = spec.source
    if source.hugging_face is not None:
        location, revision = source.hugging_face.repo, source.hugging_face.revision
    elif source.volume is not None:
        location, revision = MODELS_MOUNT + "/" + source.volume.path.strip("/"), "local"
    else:
        location, revision = str(source.path), "local"
    batching, cache = spec.batching, spec.cache
    values: dict[str, Any] = {
        "MODEL": location.rstrip("/"),
        "REVISION": revision,
        "SERVED_NAME": model,
        "DEVICE": "cuda" if spec.device is Device.GPU else "cpu",
        "PRECISION": spec.precision.value,
        "NORMALIZE": str(spec.normalize).lower(),
        "POOLING": spec.pooling.value if spec.pooling else None,
        "PORT": PORT,
        "MAX_SEQ_LENGTH": spec.max_seq_length,
        "DIMENSIONS": spec.dimensions,
        "QUERY_PREFIX": spec.prefixes.query if spec.prefixes else None,
        "PASSAGE_PREFIX": spec.prefixes.passage if spec.prefixes else None,
    }
    if batching is not None:
        values |= {
            "MAX_BATCH_SIZE": batching.max_batch_size,
            "MAX_BATCH_TOKENS": batching.max_batch_tokens,
            "MAX_WAIT_MS": batching.max_wait_ms,
            "MAX_QUEUE_SIZE": batching.max_queue_size,
        }
    if cache is not None:
        values |= {"CACHE_TTL_SECONDS": cache.ttl_seconds, "CACHE_MAX_ENTRY_BYTES": cache.max_entry_bytes}
    env: list[Manifest] = [
        {"name": f"VECTOROPS_EMBEDDER_{k}", "value": str(v)} for k, v in values.items() if v not in (None, "")
    ]
    env.append({"name": "HF_HOME", "value": f"{CACHE_MOUNT}/huggingface"})
    if redis_url is not None and (cache is None or cache.enabled):
        env.append(
            {
                "name": "VECTOROPS_EMBEDDER_REDIS_URL",
                "valueFrom": {"secretKeyRef": {"name": redis_url.name, "key": redis_url.key}},
            }
        )
    return env


def _resources(spec: EmbeddingModelSpec) -> Manifest:
    out: Manifest = {}
    if spec.resources is not None:
        for kind in ("requests", "limits"):
            values = getattr(spec.resources, kind)
            if values is not None:
                out[kind] = values.model_dump(exclude_none=True)
    if spec.device is Device.GPU:
        count = str(spec.gpu.count if spec.gpu else 1)
        out.setdefault("limits", {})["nvidia.com/gpu"] = count
    return out


def _probe(path: str, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }


def build_deployment(
    model: str, spec: EmbeddingModelSpec, image: str, redis_url: SecretKeyRef | None
) -> Manifest:
    """The embedder Deployment: restricted security context, probes on /readyz with time for model load."""
    volumes: list[Manifest] = [{"name": "cache", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    mounts: list[Manifest] = [
        {"name": "cache", "mountPath": CACHE_MOUNT},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if spec.source.volume is not None:
        volumes.append(
            {
                "name": "models",
                "persistentVolumeClaim": {"claimName": spec.source.volume.claim_name, "readOnly": True},
            }
        )
        mounts.append({"name": "models", "mountPath": MODELS_MOUNT, "readOnly": True})
    pod: Manifest = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "embedder",
                "image": image,
                "args": ["embedder"],
                "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                "env": _env(model, spec, redis_url),
                "resources": _resources(spec),
                "volumeMounts": mounts,
                # An embedder that cannot load its model exits saying why, as its log's last line: the
                # kubelet keeps that as the termination message, and the operator puts it in Ready.
                "terminationMessagePolicy": "FallbackToLogsOnError",
                # Model download and load can take minutes: the startup probe allows 10 of them.
                "startupProbe": _probe("/readyz", 10, 60),
                "readinessProbe": _probe("/readyz", 5, 3),
                "livenessProbe": _probe("/healthz", 10, 3),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "runAsNonRoot": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": volumes,
    }
    if spec.device is Device.GPU and spec.gpu is not None:
        selector = dict(spec.gpu.node_selector)
        if spec.gpu.type:
            selector["nvidia.com/gpu.product"] = spec.gpu.type
        if selector:
            pod["nodeSelector"] = selector
        if spec.gpu.tolerations:
            pod["tolerations"] = [
                t.model_dump(by_alias=True, exclude_none=True) for t in spec.gpu.tolerations
            ]
    deployment_spec: Manifest = {
        "selector": {"matchLabels": {MODEL_LABEL: model}},
        "template": {"metadata": {"labels": labels(model)}, "spec": pod},
    }
    if spec.autoscaling is None:  # with autoscaling the replica count belongs to the autoscaler
        deployment_spec["replicas"] = 1 if spec.replicas is None else spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": workload_name(model), "labels": labels(model)},
        "spec": deployment_spec,
    }


def build_service(model: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": workload_name(model), "labels": labels(model)},
        "spec": {
            "selector": {MODEL_LABEL: model},
            "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def endpoint_url(model: str, namespace: str) -> str:
    return f"http://{workload_name(model)}.{namespace}.svc:{SERVICE_PORT}"


def model_identity(spec: EmbeddingModelSpec) -> str:
    """A hash of what decides what the vectors mean: the weights (source and revision), pooling,
    Matryoshka truncation, normalisation and prefixes. Replicas, batching or resources do not change
    it, so the dimension learnt from the embedder is kept across such changes."""
    fields = {
        "source": spec.source.model_dump(mode="json", exclude_none=True),
        "pooling": spec.pooling.value if spec.pooling else None,
        "dimensions": spec.dimensions,
        "normalize": spec.normalize,
        "prefixes": spec.prefixes.model_dump(mode="json") if spec.prefixes else None,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]
