"""The gateway's reports of its breaker states into ExternalModelEndpoint status: what is reported, that
only changes (and heartbeats) are written, that failures back off, and that the shape is the CRD's."""

from __future__ import annotations

from typing import Any

from vectorops.gateway.dispatch import Breakers
from vectorops.gateway.reporter import StatusReporter, endpoint_views
from vectorops.operator.api.externalendpoint import ExternalModelEndpointStatus
from vectorops.routing.table import Backend, Capability, Policy, Route, RouteTable, VectorIdentity

IDENTITY = VectorIdentity(model="fake/e5", dimension=8, normalized=True)


def backend(source: str, upstream: str, threshold: int = 2) -> Backend:
    return Backend(
        source=source,
        url="http://provider.example:1/v1",
        upstream_model=upstream,
        identity=IDENTITY,
        policy=Policy(failure_threshold=threshold),
    )


def table(*routes: tuple[str, tuple[Backend, ...]]) -> RouteTable:
    return RouteTable(
        namespace="ml",
        routes=tuple(Route(model=m, capability=Capability.EMBEDDINGS, backends=b) for m, b in routes),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Patches:
    """Records merge patches; fails while `failing` is set (as an apiserver answering 403 would)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failing = False

    async def __call__(self, name: str, body: dict[str, Any]) -> None:
        if self.failing:
            error = RuntimeError("forbidden")
            error.status = 403  # type: ignore[attr-defined]
            raise error
        self.calls.append((name, body))


def trip(breakers: Breakers, b: Backend, error: str) -> None:
    breaker = breakers.of(b)
    for _ in range(b.policy.failure_threshold):
        permit = breaker.acquire()
        assert permit is not None
        breaker.record_failure(permit, error)


def test_views_cover_endpoints_only_and_validate_as_the_crd_status() -> None:
    hosted, local = backend("ExternalModelEndpoint/hosted", "e5-up"), backend("EmbeddingModel/minilm", "m")
    breakers = Breakers()
    trip(breakers, hosted, "e5-up answered 503")
    views = endpoint_views(table(("e5", (local, hosted))), breakers)
    assert list(views) == ["hosted"]  # an in-cluster model's health is its rollout, not reported here
    (entry,) = views["hosted"]
    assert entry == {
        "model": "e5",
        "breaker": "open",
        "consecutiveFailures": 2,
        "trips": 1,
        "lastError": "e5-up answered 503",
    }
    status = {"gateways": {"gw-0": {"observedAt": "2026-11-23T12:00:00Z", "backends": views["hosted"]}}}
    ExternalModelEndpointStatus.model_validate(status)  # the gateway writes what the CRD accepts


async def test_only_changes_and_heartbeats_are_written_and_gone_endpoints_are_withdrawn() -> None:
    hosted = backend("ExternalModelEndpoint/hosted", "e5-up")
    current = {"table": table(("e5", (hosted,)))}
    breakers, patches, clock = Breakers(), Patches(), Clock()
    reporter = StatusReporter(
        "gw-0",
        lambda: endpoint_views(current["table"], breakers),
        patches,
        heartbeat_s=300,
        clock=clock,
    )
    assert await reporter.report_once() == 1
    name, body = patches.calls[-1]
    assert name == "hosted" and body["gateways"]["gw-0"]["backends"][0]["breaker"] == "closed"
    assert body["gateways"]["gw-0"]["observedAt"].endswith("Z")
    clock.now += 10
    assert await reporter.report_once() == 0  # nothing changed: nothing written
    trip(breakers, hosted, "timeout")
    assert await reporter.report_once() == 1
    assert patches.calls[-1][1]["gateways"]["gw-0"]["backends"][0]["breaker"] == "open"
    clock.now += 301
    assert await reporter.report_once() == 1  # unchanged, but due for its heartbeat
    current["table"] = table()  # the endpoint left the table
    assert await reporter.report_once() == 1
    assert patches.calls[-1] == ("hosted", {"gateways": {"gw-0": None}})  # its entry removed
    assert await reporter.report_once() == 0


async def test_a_failed_write_backs_off_and_is_retried_then_withdrawn_on_shutdown() -> None:
    hosted = backend("ExternalModelEndpoint/hosted", "e5-up")
    breakers, patches, clock = Breakers(), Patches(), Clock()
    reporter = StatusReporter(
        "gw-0", lambda: endpoint_views(table(("e5", (hosted,))), breakers), patches, clock=clock
    )
    patches.failing = True
    assert await reporter.report_once() == 0
    patches.failing = False
    clock.now += 5
    assert await reporter.report_once() == 0 and patches.calls == []  # backing off, not hammering
    clock.now += 30
    assert await reporter.report_once() == 1
    await reporter.withdraw()
    assert patches.calls[-1] == ("hosted", {"gateways": {"gw-0": None}})


async def test_nothing_is_reported_before_a_route_table_is_read() -> None:
    patches = Patches()
    reporter = StatusReporter("gw-0", lambda: None, patches)
    assert await reporter.report_once() == 0 and patches.calls == []


def test_the_gateway_writes_where_the_operator_defines_the_kind() -> None:
    from vectorops.operator.api.kinds import EXTERNAL_MODEL_ENDPOINT, GROUP, VERSION
    from vectorops.routing.report import ENDPOINT_RESOURCE

    assert (GROUP, VERSION, EXTERNAL_MODEL_ENDPOINT.plural) == ENDPOINT_RESOURCE


async def test_an_error_streak_writes_once_and_a_gone_endpoint_is_let_go() -> None:
    hosted = backend("ExternalModelEndpoint/hosted", "e5-up", threshold=100)
    current = {"table": table(("e5", (hosted,)))}
    breakers, patches, clock = Breakers(), Patches(), Clock()
    reporter = StatusReporter(
        "gw-0", lambda: endpoint_views(current["table"], breakers), patches, clock=clock
    )
    assert await reporter.report_once() == 1
    for n in range(5):  # failures below the threshold: counts change, the breaker does not
        permit = breakers.of(hosted).acquire()
        assert permit is not None
        breakers.of(hosted).record_failure(permit, f"503 number {n}")
        clock.now += 2
        assert await reporter.report_once() == 0
    current["table"] = table()

    async def gone(name: str, body: dict[str, Any]) -> None:
        error = RuntimeError("not found")
        error.status = 404  # type: ignore[attr-defined]
        raise error

    reporter.patch = gone
    assert await reporter.report_once() == 1  # withdrawn: the endpoint itself is gone
    assert await reporter.report_once() == 0  # and not tried again
