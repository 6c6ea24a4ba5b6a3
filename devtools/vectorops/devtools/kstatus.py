"""Finding (and if need be building) hack/kstatus, and asking it what kstatus thinks of objects.

kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status) is the library Flux, kpt and cli-utils decide an
object's health with: Current, InProgress, Failed, Terminating or NotFound. hack/kstatus/main.go wraps
its `status.Compute`; hack/kstatus/build.sh builds it into the cache beside the control-plane binaries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from vectorops.devtools.binaries import find_repo_root

BUILD_SCRIPT_PATH = Path("hack") / "kstatus" / "build.sh"


class KstatusNotFound(RuntimeError):
    """hack/kstatus is not built and cannot be built here (no Go toolchain, or no checkout)."""


def ensure_kstatus(build: bool = True) -> Path:
    """The kstatus binary: KSTATUS when set to an executable, else hack/kstatus/build.sh's (which builds
    it once, about half a minute, if Go is installed), else the newest one already in the cache."""
    if os.environ.get("KSTATUS") and os.access(os.environ["KSTATUS"], os.X_OK):
        return Path(os.environ["KSTATUS"])
    repo = find_repo_root()
    if build and repo is not None and (repo / BUILD_SCRIPT_PATH).is_file() and shutil.which("go"):
        out = subprocess.run(
            ["bash", str(repo / BUILD_SCRIPT_PATH)], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
        return Path(out.splitlines()[-1])
    cache = Path(os.environ.get("VECTOROPS_CACHE", Path.home() / ".cache" / "vectorops"))
    built = sorted((cache / "kstatus").glob("*/kstatus"), key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    raise KstatusNotFound(
        "hack/kstatus is not built and Go is not installed to build it: install Go and run `make kstatus`,"
        " or set KSTATUS to a built binary"
    )


def compute(binary: Path, objects: str | dict[str, Any]) -> list[dict[str, str]]:
    """kstatus's verdict on each object in `objects` (one object, a List as `kubectl get -o json`
    prints it, or its JSON text): dicts with kind, namespace, name, status and message."""
    text = objects if isinstance(objects, str) else json.dumps(objects)
    out = subprocess.run([str(binary)], input=text, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]
