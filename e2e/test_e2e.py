"""End to end against any kubeconfig: CRDs installed, operator running, examples converge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorops.devtools.binaries import ensure_binaries
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin import StandInQdrant

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def kubeconfig() -> Iterator[Path]:
    given = os.environ.get("E2E_KUBECONFIG")
    if given:
        yield Path(given)
        return
    with ControlPlane.start() as cp:
        yield cp.kubeconfig


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    kubectl_bin = str(ensure_binaries(build=False).kubectl)
    return subprocess.run(
        [kubectl_bin, f"--kubeconfig={kubeconfig}", *args],
        input=input,
        text=True,
        capture_output=True,
        check=True,
    ).stdout


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str | None]:
    """E2E_QDRANT_URL (a real Qdrant, in kind); else, on the local control plane, the stand-in (the
    quickstart's loopback URL is make dev's)."""
    given = os.environ.get("E2E_QDRANT_URL")
    if given or os.environ.get("E2E_KUBECONFIG"):
        yield given
        return
    with StandInQdrant() as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str | None]:
    """E2E_POSTGRES_DSN (as the operator in the cluster reaches it); else, on the local control plane, a
    throwaway PostgreSQL. None: the store runs without one, and the collection asking for a schema says
    so."""
    given = os.environ.get("E2E_POSTGRES_DSN")
    if given or os.environ.get("E2E_KUBECONFIG"):
        yield given
        return
    pg = LocalPostgres.start()
    try:
        yield pg.dsn
    finally:
        pg.stop()


def test_quickstart_converges(
    kubeconfig: Path, qdrant_url: str | None, postgres_dsn: str | None, tmp_path: Path
) -> None:
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl(
        kubeconfig, "wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=vectorops"
    )
    ns = f"e2e-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", ns)
    real_cluster = bool(os.environ.get("E2E_KUBECONFIG"))
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "VECTOROPS_NAMESPACES": json.dumps([ns]),
        "VECTOROPS_LIVENESS_ENDPOINT": "",
        "VECTOROPS_RESYNC_SECONDS": "5",
        "VECTOROPS_LOCAL_STORE_ROOT": str(tmp_path / "local-stores"),
    }
    log = open(tmp_path / "operator.log", "wb")  # noqa: SIM115
    operator = subprocess.Popen(
        [sys.executable, "-m", "vectorops.cli", "operator"], env=env, stdout=log, stderr=log
    )
    try:
        kubectl(kubeconfig, "apply", "-n", ns, "-f", str(REPO / "examples" / "quickstart"))
        # The quickstart's PostgreSQL Secret is made by `make dev`; here it names the suite's PostgreSQL
        # (or, without one, the store is patched to declare none).
        qdrant = qdrant_url
        patch: dict[str, object] = {"spec": {**({"qdrant": {"url": qdrant}} if qdrant else {})}}
        if postgres_dsn:
            secret = {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "vectorops-dev-postgres"},
                "stringData": {"dsn": postgres_dsn},
            }
            kubectl(kubeconfig, "apply", "-n", ns, "-f", "-", input=json.dumps(secret))
        else:
            patch["spec"] = {**patch["spec"], "postgres": None}  # type: ignore[dict-item]
        kubectl(
            kubeconfig, "patch", "-n", ns, "vectorstore", "default", "--type=merge", "-p", json.dumps(patch)
        )
        # What each kind must reach here. Collections are usable at once (the model declares its
        # dimension); `articles` asks for a PostgreSQL schema, so without PostgreSQL it says that is
        # missing. The model is Available only where pods run (kind), and RollingOut on a local control
        # plane, which has no kubelet.
        expected = {
            "vectorstore/default": ("True", "Connected"),
            "vectorcollection/articles": ("True", "Synced")
            if postgres_dsn
            else ("False", "PostgresNotConfigured"),
            "vectorcollection/products": ("True", "Synced" if qdrant else "Incomplete"),
            "embeddingmodel/minilm": ("True", "Available") if real_cluster else ("False", "RollingOut"),
        }
        deadline = time.monotonic() + (600 if real_cluster else 60)
        seen: dict[str, tuple[str, str]] = {}
        while time.monotonic() < deadline and seen != expected:
            for ref in expected:
                obj = json.loads(kubectl(kubeconfig, "get", "-n", ns, ref, "-o", "json"))
                for c in obj.get("status", {}).get("conditions", []):
                    if c["type"] == "Ready":
                        seen[ref] = (c["status"], c["reason"])
            time.sleep(1)
        assert seen == expected, (seen, (tmp_path / "operator.log").read_text()[-3000:])
        deployment = json.loads(
            kubectl(kubeconfig, "get", "-n", ns, "deployment", "minilm-embedder", "-o", "json")
        )
        assert deployment["metadata"]["ownerReferences"][0]["name"] == "minilm"
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        log.close()
