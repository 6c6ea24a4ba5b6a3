"""`vectorops dev`: the embedded default environment, up until Ctrl-C, then cleaned up."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from vectorops.devtools.binaries import find_repo_root
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.postgres import LocalPostgres, PostgresNotAvailable

log = logging.getLogger("vectorops.dev")
DEV_NAMESPACE = "default"
DEV_STORE = "default"
PG_SECRET = "vectorops-dev-postgres"


def _apply_dev_secret(cp: ControlPlane, dsn: str) -> None:
    manifest = cp.kubectl(
        "create",
        "secret",
        "generic",
        PG_SECRET,
        f"--from-literal=dsn={dsn}",
        "-n",
        DEV_NAMESPACE,
        "--dry-run=client",
        "-o",
        "yaml",
    ).stdout
    cp.kubectl("apply", "-f", "-", input=manifest)


def run_dev(workdir: Path, examples: Path, crds: Path) -> int:
    """Start everything, apply the quick-start examples, run the operator in the foreground."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    # Ctrl-C, and also SIGTERM (timeout, a supervisor) or SIGINT when started in the background (where
    # the shell ignores it), all end the session through the clean-up below, never leaving processes.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    print("vectorops dev: building/locating etcd and kube-apiserver (first run builds them from source)...")
    cp = ControlPlane.start(workdir=workdir / "controlplane")
    pg: LocalPostgres | None = None
    try:
        cp.install_crds(sorted(crds.glob("*.yaml")))
        others = cp.install_third_party_crds()
        try:
            pg = LocalPostgres.start(workdir / "postgres")
            _apply_dev_secret(cp, pg.dsn)
        except (PostgresNotAvailable, subprocess.CalledProcessError) as e:
            print(f"vectorops dev: PostgreSQL not started ({e}); stores that need it report SecretNotFound")
        cp.kubectl("apply", "-R", "-f", str(examples))
        print(
            "\nvectorops dev is up.\n"
            f"  export KUBECONFIG={cp.kubeconfig}\n"
            "  kubectl get vectorops           # every vectorops kind, with Ready and Reason\n"
            "  kubectl describe vectorcollection articles\n"
            f"  third-party CRDs installed: {', '.join(others) or 'none'}\n"
            f"  postgres: {pg.dsn if pg else 'not running'}\n"
            "  No kubelet runs here: embedder Deployments are created but stay RollingOut.\n"
            "Press Ctrl-C to stop and clean up.\n",
            flush=True,
        )
        # The operator runs as its own process, exactly as `vectorops operator` runs in a pod.
        env = {
            **os.environ,
            "KUBECONFIG": str(cp.kubeconfig),
            "VECTOROPS_DEFAULT_STORE": DEV_STORE,
            # local: stores (qdrant-client's embedded engine) live here, one folder per namespace.
            "VECTOROPS_LOCAL_STORE_ROOT": str(workdir / "qdrant"),
            "VECTOROPS_RESYNC_SECONDS": "30",
            "VECTOROPS_LIVENESS_ENDPOINT": "",
        }
        operator = subprocess.Popen([sys.executable, "-m", "vectorops.cli", "operator"], env=env)
        try:
            return operator.wait()
        except KeyboardInterrupt:  # Ctrl-C: a normal end of a dev session
            operator.send_signal(signal.SIGTERM)
            operator.wait(timeout=30)
            return 0
    finally:
        print("vectorops dev: stopping...", file=sys.stderr)
        if pg is not None:
            pg.stop()
        cp.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)


def default_paths() -> tuple[Path, Path, Path]:
    repo = find_repo_root() or Path.cwd()
    return repo / ".dev", repo / "examples" / "quickstart", repo / "crds"
