"""Finding (and if need be building) etcd, kube-apiserver and kubectl."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
BUILD_SCRIPT = REPO_ROOT / "hack" / "envtest" / "build.sh"


class BinariesNotFound(RuntimeError):
    """The control-plane binaries are missing and cannot be built here."""


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kubectl: Path
    third_party_crds: Path | None


def _cache_dir() -> Path:
    return Path(os.environ.get("VECTOROPS_CACHE", Path.home() / ".cache" / "vectorops"))


def ensure_binaries(build: bool = True) -> Binaries:
    """Locate the binaries: KUBEBUILDER_ASSETS, else the cache, building them there if allowed."""
    if BUILD_SCRIPT.exists() and build:
        out = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
        bin_dir = Path(out.splitlines()[-1])
    elif os.environ.get("KUBEBUILDER_ASSETS"):
        bin_dir = Path(os.environ["KUBEBUILDER_ASSETS"])
    else:
        candidates = sorted((_cache_dir() / "envtest").glob("v*"))
        if not candidates:
            raise BinariesNotFound(
                "no etcd/kube-apiserver found: run `make envtest` or set KUBEBUILDER_ASSETS"
            )
        bin_dir = candidates[-1]
    etcd, apiserver = bin_dir / "etcd", bin_dir / "kube-apiserver"
    for path in (etcd, apiserver):
        if not os.access(path, os.X_OK):
            raise BinariesNotFound(f"{path} is missing or not executable")
    kubectl = bin_dir / "kubectl"
    if not os.access(kubectl, os.X_OK):
        found = shutil.which("kubectl")
        if found is None:
            raise BinariesNotFound("kubectl not found next to kube-apiserver nor on PATH")
        kubectl = Path(found)
    crds = _cache_dir() / "third-party-crds"
    return Binaries(etcd, apiserver, kubectl, crds if crds.is_dir() else None)
