"""kstatus, the health library of Flux, kpt and cli-utils, run on every vectorops kind as the real
operator leaves it (hack/kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute), next to
`kubectl wait --for=condition=Ready`:

- Ready=True with the generation observed: kstatus says Current and kubectl wait returns 0;
- the spec changed while the operator is stopped (generation > observedGeneration): InProgress, and
  kubectl wait does not take the stale Ready=True; once the operator is back, Current again;
- an object that cannot work (Ready=False with a reason): InProgress with our message, never Current.
  Never Failed either: kstatus only says Failed for a `Stalled=True` condition, which vectorops does
  not set (docs/gitops.md shows the Flux health-check expressions that fail such reasons at once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    RealQdrant,
    checked_operator,
    condition,
    ready_is,
    roll_out,
    secret,
)
from tests.integration.test_embeddingmodels import model
from tests.integration.test_endpoints import endpoint
from tests.integration.test_operator import store
from vectorops.devtools import kstatus
from vectorops.devtools.controlplane import free_port
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.qdrant_standin import StandInQdrant

API = "vectorops.io/v1alpha1"
KEY = "sk-kstatus-3e9a71"


@pytest.fixture(scope="session")
def kstatus_bin() -> Path:
    """Requested first, so that without Go the tests skip before a control plane starts."""
    try:
        return kstatus.ensure_kstatus()
    except kstatus.KstatusNotFound as e:
        pytest.skip(f"kstatus is not available: {e}")


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=KEY, dimension=16, models=("e5",)) as p:
        yield p


@pytest.fixture(scope="module")
def op(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """An operator of this module's own, which the tests stop and start again."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    with checked_operator(cluster, log, VECTOROPS_DEFAULT_STORE="default") as process:
        yield process


def collection(name: str, ns: str, store_name: str, m: int = 16) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": name},
        "spec": {
            "storeRef": {"name": store_name},
            "collectionName": f"{ns}-{name}",  # unique in a Qdrant shared with other tests
            "vectors": {"size": 8},
            "hnsw": {"m": m},
        },
    }


def verdicts(cluster: Cluster, binary: Path, ns: str) -> dict[str, dict[str, str]]:
    """kstatus on every vectorops object of the namespace, from one `kubectl get -o json` List, by
    "kind/name"."""
    listed = cluster.kubectl("get", "vectorops", "-n", ns, "-o", "json").stdout
    return {f"{v['kind']}/{v['name']}": v for v in kstatus.compute(binary, listed)}


def kubectl_wait(cluster: Cluster, ns: str, ref: str, timeout: str) -> int:
    return cluster.kubectl(
        "wait", "-n", ns, "--for=condition=Ready", ref, f"--timeout={timeout}", check=False
    ).returncode


def test_every_kind_is_current_when_ready_and_in_progress_while_unobserved(
    kstatus_bin: Path,
    cluster: Cluster,
    namespace: str,
    op: OperatorProcess,
    qdrant: StandInQdrant | RealQdrant,
    provider: FakeProvider,
) -> None:
    ns = namespace
    cluster.apply(
        ns,
        store("default", qdrant.url),
        collection("docs", ns, "default"),
        model("minilm", cache={"enabled": False}),
        secret("provider", token=KEY),
        endpoint("api", provider.base_url),
    )
    # No kubelet runs here: play the Deployment controller once the embedder's Deployment exists.
    cluster.wait_for(ns, "embeddingmodel", "minilm", ready_is("False", "RollingOut"))
    roll_out(cluster, ns, "minilm-embedder")
    objects = {
        "VectorStore/default": ("vectorstore", "default"),
        "VectorCollection/docs": ("vectorcollection", "docs"),
        "EmbeddingModel/minilm": ("embeddingmodel", "minilm"),
        "ExternalModelEndpoint/api": ("externalmodelendpoint", "api"),
    }
    for kind, name in objects.values():
        cluster.wait_for(ns, kind, name, ready_is("True"))

    # Ready=True, generation observed: Current, and kubectl wait agrees.
    seen = verdicts(cluster, kstatus_bin, ns)
    assert set(seen) == set(objects)
    for ref, (kind, name) in objects.items():
        assert (seen[ref]["status"], seen[ref]["message"]) == ("Current", "Resource is Ready"), seen[ref]
        assert kubectl_wait(cluster, ns, f"{kind}/{name}", "10s") == 0, ref

    # The spec changes while no operator runs: each object still says Ready=True, for generation 1.
    assert op.stop() == 0
    try:
        cluster.apply(
            ns,
            store("default", qdrant.url, qdrant={"url": qdrant.url, "timeoutSeconds": 20}),
            collection("docs", ns, "default", m=32),
            model("minilm", cache={"enabled": False}, replicas=2),
            endpoint("api", provider.base_url, healthProbe={"intervalSeconds": 6, "failureThreshold": 2}),
        )
        # Created while no operator runs: no status written by the operator.
        cluster.apply(ns, store("late", qdrant.url))
        seen = verdicts(cluster, kstatus_bin, ns)
        for ref, (kind, name) in objects.items():
            obj = cluster.get(ns, kind, name)
            assert (obj["metadata"]["generation"], obj["status"]["observedGeneration"]) == (2, 1)
            assert condition(obj)["status"] == "True"  # stale, from generation 1
            assert seen[ref]["status"] == "InProgress", seen[ref]
            assert (
                seen[ref]["message"]
                == f"{ref.split('/')[0]} generation is 2, but latest observed generation is 1"
            )
        # kubectl wait does not take the stale Ready=True either: the condition says observedGeneration 1.
        for ref, (kind, name) in objects.items():
            assert kubectl_wait(cluster, ns, f"{kind}/{name}", "1s") != 0, ref
        # Never looked at by the operator: the CRDs default the status to observedGeneration 0 (crdgen.py),
        # so kstatus says InProgress; without that default its fallback for an object with neither
        # observedGeneration nor conditions is Current (a health check would pass at once).
        late = cluster.get(ns, "vectorstore", "late")
        assert late["status"] == {"observedGeneration": 0}, late.get("status")
        assert seen["VectorStore/late"] == {
            "kind": "VectorStore",
            "namespace": ns,
            "name": "late",
            "status": "InProgress",
            "message": "VectorStore generation is 1, but latest observed generation is 0",
        }, seen["VectorStore/late"]
        assert kubectl_wait(cluster, ns, "vectorstore/late", "1s") != 0
    finally:
        op.start()

    cluster.wait_for(ns, "deployment", "minilm-embedder", lambda d: d["spec"]["replicas"] == 2)
    roll_out(cluster, ns, "minilm-embedder")
    objects["VectorStore/late"] = ("vectorstore", "late")
    for kind, name in objects.values():
        cluster.wait_for(ns, kind, name, ready_is("True"))
    seen = verdicts(cluster, kstatus_bin, ns)
    for ref, (kind, name) in objects.items():
        obj = cluster.get(ns, kind, name)
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        assert seen[ref]["status"] == "Current", seen[ref]
        assert kubectl_wait(cluster, ns, f"{kind}/{name}", "10s") == 0, ref


def test_objects_that_cannot_work_are_in_progress_never_current(
    kstatus_bin: Path, cluster: Cluster, namespace: str, op: OperatorProcess, provider: FakeProvider
) -> None:
    ns = namespace
    cases = {
        # What kstatus says follows from Ready=False (no Stalled condition): InProgress, with our message.
        "VectorCollection/orphan": ("vectorcollection", "orphan", "StoreNotFound"),
        "VectorStore/down": ("vectorstore", "down", "BackendUnreachable"),
        "VectorStore/default": ("vectorstore", "default", "SecretNotFound"),
        "EmbeddingModel/cached": ("embeddingmodel", "cached", "SecretNotFound"),
        "ExternalModelEndpoint/nokey": ("externalmodelendpoint", "nokey", "SecretNotFound"),
        # Scaled to zero on purpose: Ready=False, so InProgress for kstatus too (Flux waits for it
        # until its timeout; Argo CD's health check says Suspended).
        "EmbeddingModel/idle": ("embeddingmodel", "idle", "ScaledToZero"),
    }
    cluster.apply(
        ns,
        collection("orphan", ns, "missing"),
        store("down", f"http://127.0.0.1:{free_port()}"),
        store("default", "local:q", redis={"urlSecretRef": {"name": "redis", "key": "url"}}),
        model("cached"),
        endpoint(
            "nokey",
            provider.base_url,
            auth={"type": "bearer", "secretRef": {"name": "absent", "key": "token"}},
        ),
        model("idle", replicas=0, cache={"enabled": False}),
    )
    messages = {}
    for ref, (kind, name, reason) in cases.items():
        obj = cluster.wait_for(ns, kind, name, ready_is("False", reason))
        messages[ref] = condition(obj)["message"]
    seen = verdicts(cluster, kstatus_bin, ns)
    assert set(seen) == set(cases)
    for ref in cases:
        assert (seen[ref]["status"], seen[ref]["message"]) == ("InProgress", messages[ref]), seen[ref]
    assert kubectl_wait(cluster, ns, "vectorcollection/orphan", "1s") != 0
