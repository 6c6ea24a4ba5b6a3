"""Finding (and if need be building) etcd, kube-apiserver and kubectl."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BUILD_SCRIPT_PATH = Path("hack") / "envtest" / "build.sh"


def find_repo_root() -> Path | None:
    """The vectorops checkout these tools serve: VECTOROPS_REPO, else the first folder holding
    hack/envtest/build.sh above the current directory or above this file (an editable install)."""
    if os.environ.get("VECTOROPS_REPO"):
        return Path(os.environ["VECTOROPS_REPO"])
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / BUILD_SCRIPT_PATH).is_file():
                return folder
    return None


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
    repo = find_repo_root()
    if repo is not None and build:
        out = subprocess.run(
            ["bash", str(repo / BUILD_SCRIPT_PATH)], check=True, stdout=subprocess.PIPE, text=True
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
