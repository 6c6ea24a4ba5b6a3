"""ExternalModelEndpoints on the real apiserver with the operator process: probed against a real HTTP
provider on loopback, compiled into the namespace's route table (a ConfigMap), conflicts reported,
deletions leave the table at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Cluster, OperatorProcess, condition, ready_is, secret
from vectorops.devtools.fake_provider import FakeProvider
from vectorops.routing.table import ROUTES_CONFIGMAP, ROUTES_KEY, RouteTable

API = "vectorops.io/v1alpha1"
KEY = "sk-itest-5b1d0e"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=KEY, dimension=16, models=("e5", "chatty")) as p:
        yield p


def endpoint(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ExternalModelEndpoint",
        "metadata": {"name": name},
        "spec": {
            "url": url,
            "models": [{"name": "e5", "dimensions": 16, "identity": "fake/e5"}],
            "auth": {"type": "bearer", "secretRef": {"name": "provider", "key": "token"}},
            "healthProbe": {"intervalSeconds": 5, "failureThreshold": 2},
            **spec,
        },
    }


def table(cluster: Cluster, ns: str) -> RouteTable:
    configmap = cluster.get(ns, "configmap", ROUTES_CONFIGMAP)
    return RouteTable.model_validate_json(configmap["data"][ROUTES_KEY])


def test_endpoint_is_probed_routed_and_conflicts_are_reported(
    cluster: Cluster, namespace: str, operator: OperatorProcess, provider: FakeProvider
) -> None:
    ns = namespace
    cluster.apply(ns, secret("provider", token=KEY), endpoint("primary", provider.base_url))
    obj = cluster.wait_for(ns, "externalmodelendpoint", "primary", ready_is("True", "Routed"))
    assert condition(obj, "Healthy")["reason"] == "Healthy"
    health = obj["status"]["health"]
    assert health["models"][0]["dimension"] == 16 and health["consecutiveFailures"] == 0
    routes = table(cluster, ns)
    assert [(r.model, [b.source for b in r.backends]) for r in routes.routes] == [
        ("e5", ["ExternalModelEndpoint/primary"])
    ]
    configmap = cluster.get(ns, "configmap", ROUTES_CONFIGMAP)
    assert {o["name"] for o in configmap["metadata"]["ownerReferences"]} == {"primary"}
    assert KEY not in json.dumps(configmap)

    # A second endpoint claiming the same model at the same priority: refused, the first keeps serving.
    cluster.apply(ns, endpoint("rival", provider.base_url))
    obj = cluster.wait_for(ns, "externalmodelendpoint", "rival", ready_is("False", "RouteConflict"))
    assert "already served at priority 100 by ExternalModelEndpoint/primary" in condition(obj)["message"]
    assert [b.source for b in table(cluster, ns).routes[0].backends] == ["ExternalModelEndpoint/primary"]

    # The same at another priority is a backup, behind the primary.
    cluster.apply(ns, endpoint("rival", provider.base_url, failover={"priority": 200}))
    cluster.wait_for(ns, "externalmodelendpoint", "rival", ready_is("True", "Routed"))
    assert [b.source for b in table(cluster, ns).routes[0].backends] == [
        "ExternalModelEndpoint/primary",
        "ExternalModelEndpoint/rival",
    ]

    # Deleted: out of the table at once (no finalizer is held for it).
    cluster.kubectl("delete", "-n", ns, "externalmodelendpoint", "primary")
    cluster.wait_for(
        ns,
        "configmap",
        ROUTES_CONFIGMAP,
        lambda cm: (
            [b["source"] for b in json.loads(cm["data"][ROUTES_KEY])["routes"][0]["backends"]]
            == ["ExternalModelEndpoint/rival"]
        ),
        timeout=15,
    )


def test_a_failing_provider_degrades_then_leaves_the_table(
    cluster: Cluster, namespace: str, operator: OperatorProcess, provider: FakeProvider
) -> None:
    ns = namespace
    cluster.apply(ns, secret("provider", token=KEY), endpoint("flaky", provider.base_url))
    cluster.wait_for(ns, "externalmodelendpoint", "flaky", ready_is("True"))
    provider.down()
    try:
        obj = cluster.wait_for(
            ns, "externalmodelendpoint", "flaky", ready_is("False", "ProbeFailed"), timeout=45
        )
        assert "unreachable" in condition(obj)["message"]
        assert obj["status"]["health"]["consecutiveFailures"] >= 2
        assert table(cluster, ns).routes == ()
        assert cluster.wait_event(ns, "flaky", "ProbeFailed")["type"] == "Warning"
        # No hot loop while it stays down: a status write per probe (every 5 s: the failure count and
        # the probe time), no further Event, the route table left as it is.
        events = len(cluster.events(ns, "flaky"))
        routes = cluster.get(ns, "configmap", ROUTES_CONFIGMAP)["metadata"]["resourceVersion"]
        versions: set[str] = set()
        end = time.monotonic() + 12
        while time.monotonic() < end:
            versions.add(cluster.get(ns, "externalmodelendpoint", "flaky")["metadata"]["resourceVersion"])
            time.sleep(0.2)
        assert len(versions) <= 4, versions  # the one seen first, then at most one per 5 s probe
        assert len(cluster.events(ns, "flaky")) == events
        assert cluster.get(ns, "configmap", ROUTES_CONFIGMAP)["metadata"]["resourceVersion"] == routes
    finally:
        provider.up()
    cluster.wait_for(ns, "externalmodelendpoint", "flaky", ready_is("True"), timeout=45)
    assert [r.model for r in table(cluster, ns).routes] == ["e5"]


def test_a_missing_secret_is_reported_and_nothing_is_probed(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    ns = namespace
    with FakeProvider(api_key=KEY, dimension=16, models=("e5",)) as own:  # this test's alone
        cluster.apply(ns, endpoint("keyless", own.base_url))
        obj = cluster.wait_for(ns, "externalmodelendpoint", "keyless", ready_is("False", "SecretNotFound"))
        assert "provider" in condition(obj)["message"]
        assert own.count() == 0
