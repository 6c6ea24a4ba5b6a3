"""Manifests and observations the reliability tests share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.conftest import Cluster, OperatorProcess, condition
from vectorops.devtools.controlplane import ControlPlane

API = "vectorops.io/v1alpha1"


def store(name: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorStore",
        "metadata": {"name": name},
        "spec": {"qdrant": {"url": url}},
    }


def collection(name: str, size: int = 8, policy: str = "Delete", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": name},
        "spec": {"storeRef": {"name": "q"}, "vectors": {"size": size}, "deletionPolicy": policy, **spec},
    }


def model(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "EmbeddingModel",
        "metadata": {"name": name},
        "spec": {
            "source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}},
            "dimension": 384,
            "replicas": replicas,
            "cache": {"enabled": False},
        },
    }


def items(cluster: Cluster, ns: str, kind: str) -> list[dict[str, Any]]:
    return list(json.loads(cluster.kubectl("get", "-n", ns, kind, "-o", "json").stdout)["items"])


def settled(obj: dict[str, Any], statuses: tuple[str, ...] = ("True",)) -> bool:
    """Ready (or the given steady status) for the object's current generation."""
    ready = condition(obj)
    return (
        ready is not None
        and ready["status"] in statuses
        and (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
    )


def operator_for(
    control_plane: ControlPlane, ns: str, tmp_path: Path, resync_s: int = 2, **env: str
) -> OperatorProcess:
    """A started operator process watching `ns` only, resyncing every `resync_s` seconds."""
    op = OperatorProcess(
        control_plane,
        tmp_path / "operator.log",
        VECTOROPS_NAMESPACES=json.dumps([ns]),
        VECTOROPS_RESYNC_SECONDS=str(resync_s),
        **env,
    )
    op.start()
    return op
