"""Fixtures of the chart tests: the helm CLI built from the Go module proxy, rendering with value sets, and
a control plane of their own (the chart installs cluster-scoped objects: CRDs, ClusterRoles, peering)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vectorops.devtools.controlplane import ControlPlane

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "vectorops"
RELEASE_NS = "vectorops-system"
WATCHED = ("team-a", "team-b")

# The value sets every rendering test runs with (name -> --set-json style values).
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespaced": {"rbac": {"scope": "namespaced", "namespaces": list(WATCHED)}},
    "replicas-2": {"operator": {"replicas": 2}, "gateway": {"replicas": 3}},
    "everything": {
        "operator": {"replicas": 2},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboards": {"enabled": True},
        "networkPolicy": {"enabled": True, "namespaces": list(WATCHED)},
        "defaultStore": {
            "name": "default",
            "create": True,
            "spec": {"qdrant": {"url": "http://qdrant:6333"}},
        },
        "gateway": {
            "redis": {"urlSecretRef": {"name": "redis", "key": "url"}},
            "ingress": {"enabled": True, "className": "nginx", "host": "vectors.example.com"},
            "httpRoute": {"enabled": True, "parentRefs": [{"name": "public", "namespace": "gateways"}]},
        },
    },
    "no-crds": {"crds": {"install": False}, "gateway": {"enabled": False}},
}


@pytest.fixture(scope="session")
def helm() -> str:
    out = subprocess.run(
        ["bash", str(REPO / "hack" / "helm" / "build.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    return out.strip().splitlines()[-1]


def run_helm(
    helm: str, *args: str, kubeconfig: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": "/tmp/vectorops-helm/cache",
        "HELM_CONFIG_HOME": "/tmp/vectorops-helm/config",
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    proc = subprocess.run([helm, *args], env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}\n{proc.stdout[-2000:]}"
        )
    return proc


def values_file(tmp: Path, values: dict[str, Any]) -> Path:
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def render(helm: str, tmp: Path, values: dict[str, Any], namespace: str = RELEASE_NS) -> list[dict[str, Any]]:
    out = run_helm(
        helm, "template", "vo", str(CHART), "--namespace", namespace, "-f", str(values_file(tmp, values))
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def chart_plane() -> Iterator[ControlPlane]:
    """A control plane with the third-party CRDs (ServiceMonitor, HTTPRoute...) but not ours: the chart
    installs those."""
    cp = ControlPlane.start()
    try:
        cp.install_third_party_crds()
        yield cp
    finally:
        cp.stop()
