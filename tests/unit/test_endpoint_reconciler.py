"""The ExternalModelEndpoint reconciler against a real HTTP provider (the fault-injecting double): the
canary probe, rate limiting, Healthy/Degraded/Routed/Ready, the route table written as a ConfigMap."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from vectorops.devtools.fake_provider import FakeProvider
from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.reconcilers.externalendpoint import EndpointReconciler
from vectorops.operator.reconcilers.outcome import Context, Outcome
from vectorops.operator.reconcilers.routes import ROUTE_SOURCES_INDEX, RouteSource, RouteSync
from vectorops.routing.table import ROUTES_KEY, RouteTable

KEY = "sk-test-7f3a9c"


class Secrets:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values

    async def secret_keys(self, namespace: str, name: str) -> frozenset[str] | None:
        keys = frozenset(k for (n, k) in self.values if n == name)
        return keys or None

    async def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.values.get((name, key))

    async def custom_object_exists(self, plural: str, namespace: str, name: str) -> bool:
        return False

    async def get_custom_object(self, plural: str, namespace: str, name: str) -> None:
        return None


class Writer:
    def __init__(self) -> None:
        self.applied: list[dict[str, Any]] = []

    async def apply(self, manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
        self.applied.append(manifest)
        return manifest

    async def get(self, *args: str) -> None:
        return None

    async def delete(self, *args: str) -> bool:
        return False

    async def served(self, api_version: str, kind: str) -> bool:
        return True

    def table(self) -> RouteTable:
        return RouteTable.model_validate_json(self.applied[-1]["data"][ROUTES_KEY])


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with FakeProvider(api_key=KEY, dimension=8, models=("e5",)) as p:
        yield p


class Endpoint:
    """One ExternalModelEndpoint whose status carries over between passes; `index` plays kopf's."""

    def __init__(self, name: str, spec: dict[str, Any], index: dict[str, list[RouteSource]]) -> None:
        self.name, self.spec, self.status, self.generation = name, spec, {}, 1
        self.index, self.now = index, datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    async def reconcile(self, reconciler: EndpointReconciler, secrets: Secrets) -> Outcome:
        ctx = Context(
            self.name, "ml", f"uid-{self.name}", self.generation, self.spec, self.status, secrets, self.now,
            indexes={f"{ROUTE_SOURCES_INDEX}_x": self.index},
        )  # fmt: skip
        result = await reconciler.reconcile(ctx)
        self.status = {**self.status, **result.desired_status()}
        sources = [s for s in self.index.setdefault("ml", []) if s.name != self.name]
        sources.append(
            RouteSource("ExternalModelEndpoint", self.name, f"uid-{self.name}", self.spec, self.status)
        )
        self.index["ml"] = sources
        return result


def cond(result: Outcome, type_: str) -> dict[str, Any]:
    return next(c for c in result.conditions if c["type"] == type_)


def spec(provider: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "url": provider.base_url,
        "models": [{"name": "e5", "dimensions": 8, "identity": "fake/e5"}],
        "auth": {"type": "bearer", "secretRef": {"name": "key", "key": "token"}},
        "healthProbe": {"intervalSeconds": 30, "failureThreshold": 2},
        **extra,
    }


async def test_a_healthy_endpoint_is_probed_routed_and_ready(provider: FakeProvider) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    ep = Endpoint("hosted", spec(provider), {})
    result = await ep.reconcile(reconciler, Secrets({("key", "token"): KEY}))
    await prober.close()
    assert (cond(result, "Ready")["status"], cond(result, "Healthy")["reason"]) == ("True", "Healthy")
    assert "e5: 8 dimensions, norm 1.0" in cond(result, "Healthy")["message"]
    assert provider.count("/v1/embeddings") == 1
    assert provider.requests[-1].auth == f"Bearer {KEY}"  # the key from the Secret was sent
    (route,) = writer.table().routes
    backend = route.backends[0]
    assert (route.model, backend.url, backend.credential.secret) == ("e5", provider.base_url, "key")  # type: ignore[union-attr]
    configmap = json.dumps(writer.applied[-1])
    assert KEY not in configmap and KEY not in json.dumps(result.desired_status())


async def test_probes_follow_the_interval_and_failures_degrade_then_unready(provider: FakeProvider) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    secrets = Secrets({("key", "token"): KEY})
    ep = Endpoint("hosted", spec(provider), {})
    await ep.reconcile(reconciler, secrets)
    ep.now += timedelta(seconds=10)
    await ep.reconcile(reconciler, secrets)
    assert provider.count("/v1/embeddings") == 1  # not due yet: no second probe
    provider.fail_next(2, status=503)
    ep.now += timedelta(seconds=30)
    once = await ep.reconcile(reconciler, secrets)
    assert cond(once, "Ready")["status"] == "True" and cond(once, "Degraded")["status"] == "True"
    assert "503" in cond(once, "Degraded")["message"]
    ep.now += timedelta(seconds=30)
    twice = await ep.reconcile(reconciler, secrets)
    assert (cond(twice, "Healthy")["status"], cond(twice, "Ready")["status"]) == ("False", "False")
    assert writer.table().routes == ()  # out of the table
    ep.now += timedelta(seconds=30)
    back = await ep.reconcile(reconciler, secrets)
    assert cond(back, "Ready")["status"] == "True" and len(writer.table().routes) == 1
    await prober.close()


async def test_wrong_key_and_wrong_dimension_are_named(provider: FakeProvider) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    ep = Endpoint("hosted", spec(provider), {})
    result = await ep.reconcile(reconciler, Secrets({("key", "token"): "sk-wrong"}))
    assert (
        cond(result, "Degraded")["reason"] == "ProbeFailed" and "401" in cond(result, "Degraded")["message"]
    )
    assert "sk-wrong" not in json.dumps(result.desired_status())
    wrong = Endpoint("other", spec(provider, models=[{"name": "e5", "dimensions": 1024}]), {})
    result = await wrong.reconcile(reconciler, Secrets({("key", "token"): KEY}))
    assert (cond(result, "Ready")["status"], cond(result, "Ready")["reason"]) == (
        "False",
        "DimensionMismatch",
    )
    await prober.close()


async def test_two_endpoints_at_one_priority_conflict_and_the_first_keeps_serving(
    provider: FakeProvider,
) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    secrets, index = Secrets({("key", "token"): KEY}), {}
    a = Endpoint("a", spec(provider), index)
    b = Endpoint("b", spec(provider), index)
    assert cond(await a.reconcile(reconciler, secrets), "Ready")["status"] == "True"
    result = await b.reconcile(reconciler, secrets)
    assert (cond(result, "Routed")["reason"], cond(result, "Ready")["status"]) == ("RouteConflict", "False")
    assert [x.source for x in writer.table().routes[0].backends] == ["ExternalModelEndpoint/a"]
    await prober.close()


def gateway_view(observed: datetime, breaker: str, error: str | None = None) -> dict[str, Any]:
    backend: dict[str, Any] = {"model": "e5", "breaker": breaker, "consecutiveFailures": 5, "trips": 2}
    if error:
        backend["lastError"] = error
    return {"observedAt": observed.isoformat().replace("+00:00", "Z"), "backends": [backend]}


async def test_an_open_breaker_in_a_live_gateway_degrades_and_a_gone_replica_is_dropped(
    provider: FakeProvider,
) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    secrets = Secrets({("key", "token"): KEY})
    ep = Endpoint("hosted", spec(provider), {})
    await ep.reconcile(reconciler, secrets)
    ep.status["gateways"] = {
        "gw-live": gateway_view(ep.now - timedelta(seconds=20), "open", "e5-up answered 503"),
        "gw-gone": gateway_view(ep.now - timedelta(minutes=16), "open", "old news"),
    }
    result = await ep.reconcile(reconciler, secrets)
    degraded = cond(result, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "BreakerOpen")
    assert "gw-live: e5 (opened 2 times, last error: e5-up answered 503)" in degraded["message"]
    assert "gw-gone" not in degraded["message"]  # a replica silent for 15 minutes says nothing
    assert cond(result, "Ready")["status"] == "True"  # still routed: the gateway decides per request
    assert result.extra_status["gateways"] == {"gw-gone": None}  # a merge patch that removes it

    ep.status["gateways"] = {"gw-live": gateway_view(ep.now, "closed")}  # the breaker closed again
    healed = await ep.reconcile(reconciler, secrets)
    assert (cond(healed, "Degraded")["status"], cond(healed, "Degraded")["reason"]) == (
        "False",
        "ProbeSucceeded",
    )
    assert "gateways" not in healed.extra_status  # nothing to drop: nothing written
    await prober.close()


async def test_a_failing_probe_keeps_its_own_reason_beside_an_open_breaker(provider: FakeProvider) -> None:
    writer, prober = Writer(), EndpointProber()
    reconciler = EndpointReconciler(prober, RouteSync(writer))
    secrets = Secrets({("key", "token"): KEY})
    ep = Endpoint("hosted", spec(provider), {})
    await ep.reconcile(reconciler, secrets)
    ep.status["gateways"] = {"gw": gateway_view(ep.now, "open")}
    provider.fail_next(1, status=503)
    ep.now += timedelta(seconds=30)
    result = await ep.reconcile(reconciler, secrets)
    degraded = cond(result, "Degraded")
    assert degraded["status"] == "True" and "503" in degraded["message"]
    await prober.close()


def test_malformed_gateway_reports_are_dropped_not_fatal() -> None:
    from vectorops.operator.status.endpoint import read_gateway_reports

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    reports = read_gateway_reports(
        {
            "no-time": {"backends": [{"model": "e5", "breaker": "open"}]},
            "no-zone": {"observedAt": "2026-11-23T11:59:00", "backends": []},
            "garbled": "not an object",
            "odd-backend": {"observedAt": "2026-11-23T11:59:00Z", "backends": ["open", None]},
        },
        now,
    )
    assert reports.open_breakers == []
    assert reports.stale == ["no-time", "no-zone"]  # unreadable times: dropped like a gone replica
