"""ExternalModelEndpoint: Secret resolved, probed (rate-limited), health in status, a place in the
namespace's route table.

Conditions: ReferencesResolved; Healthy (False when the endpoint must not take traffic: a wrong answer,
or `failureThreshold` failed probes in a row; Unknown when probing is off); Degraded (the last probe
failed, or a gateway replica reports an open breaker in status.gateways; traffic still allowed);
Routed (its models are in the route table, or why not); Ready (all of it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vectorops.operator.adapters.endpoint_probe import EndpointProber
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.externalendpoint import ExternalModelEndpointSpec
from vectorops.operator.api.kinds import EXTERNAL_MODEL_ENDPOINT
from vectorops.operator.builders.alert_rules import endpoint_rules
from vectorops.operator.builders.references import externalendpoint_references
from vectorops.operator.builders.routes import Contribution, endpoint_offer, source_of
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.reconcilers.routes import RouteSync, endpoint_routable, routed_condition
from vectorops.operator.status.conditions import ConditionUpdate, find_condition
from vectorops.operator.status.endpoint import (
    GatewayReports,
    ProbeVerdict,
    evaluate,
    probe_due,
    read_gateway_reports,
)
from vectorops.operator.status.readiness import references_condition
from vectorops.routing.report import GATEWAYS_FIELD

DEFAULT_FAILURE_THRESHOLD = 3


def _update(type_: ConditionType, status: ConditionStatus, reason: str, message: str) -> ConditionUpdate:
    return ConditionUpdate(type_.value, status, reason, message)


def health_conditions(
    spec: ExternalModelEndpointSpec, verdict: ProbeVerdict | None, failures: int
) -> list[ConditionUpdate]:
    """Healthy and Degraded from the latest probe (None: probing is off)."""
    if verdict is None:
        return [
            _update(
                ConditionType.HEALTHY, ConditionStatus.UNKNOWN, "NotProbed", "healthProbe.enabled is false"
            ),
            _update(ConditionType.DEGRADED, ConditionStatus.FALSE, "NotProbed", "not probed"),
        ]
    if verdict.healthy:
        return [
            _update(ConditionType.HEALTHY, ConditionStatus.TRUE, verdict.reason, verdict.message),
            _update(
                ConditionType.DEGRADED, ConditionStatus.FALSE, "ProbeSucceeded", "the last probe succeeded"
            ),
        ]
    threshold = spec.health_probe.failure_threshold if spec.health_probe else DEFAULT_FAILURE_THRESHOLD
    if verdict.wrong_answer or failures >= threshold:
        why = "a wrong answer" if verdict.wrong_answer else f"{failures} failed probes in a row"
        return [
            _update(
                ConditionType.HEALTHY, ConditionStatus.FALSE, verdict.reason, f"{verdict.message} ({why})"
            ),
            _update(ConditionType.DEGRADED, ConditionStatus.TRUE, verdict.reason, verdict.message),
        ]
    return [
        _update(
            ConditionType.HEALTHY,
            ConditionStatus.TRUE,
            "Degraded",
            f"{failures} of {threshold} probes failed in a row; still taking traffic",
        ),
        _update(ConditionType.DEGRADED, ConditionStatus.TRUE, verdict.reason, verdict.message),
    ]


def with_breakers(updates: list[ConditionUpdate], reports: GatewayReports) -> list[ConditionUpdate]:
    """An open breaker in a live gateway replica makes Degraded True (reason BreakerOpen) unless a probe
    already says why: the gateway sees real traffic fail between the operator's probes."""
    if not reports.open_breakers:
        return updates
    return [
        _update(ConditionType.DEGRADED, ConditionStatus.TRUE, Reason.BREAKER_OPEN.value, reports.message())
        if u.type == ConditionType.DEGRADED.value and u.status is not ConditionStatus.TRUE
        else u
        for u in updates
    ]


def _ready(updates: list[ConditionUpdate]) -> ConditionUpdate:
    """Ready: the first condition that is not as it should be, else True."""
    wanted = {
        ConditionType.HEALTHY.value: ConditionStatus.FALSE,
        ConditionType.ROUTED.value: ConditionStatus.FALSE,
    }
    for u in updates:
        if wanted.get(u.type) is u.status or (
            u.type == ConditionType.REFERENCES.value and u.status is not ConditionStatus.TRUE
        ):
            return _update(ConditionType.READY, ConditionStatus.FALSE, u.reason, u.message)
    return _update(ConditionType.READY, ConditionStatus.TRUE, "Routed", "healthy and in the route table")


def _previous_verdict(status: Mapping[str, Any]) -> ProbeVerdict | None:
    healthy = find_condition(status.get("conditions") or [], ConditionType.HEALTHY.value)
    if healthy is None or healthy.get("status") == "Unknown":
        return None
    degraded = find_condition(status.get("conditions") or [], ConditionType.DEGRADED.value) or {}
    # BreakerOpen is the gateway's view laid over a probe that passed (see with_breakers)
    failed = degraded.get("status") == "True" and degraded.get("reason") != Reason.BREAKER_OPEN.value
    reason = str(degraded.get("reason") if failed else healthy.get("reason"))
    message = str(degraded.get("message") if failed else healthy.get("message"))
    wrong = failed and reason != "ProbeFailed"
    return ProbeVerdict(not failed, reason, message, wrong_answer=wrong)


@dataclass
class EndpointReconciler:
    prober: EndpointProber
    routes: RouteSync
    rules: RuleSync | None = None  # None: alert rules not delivered

    async def _key(self, ctx: Context, spec: ExternalModelEndpointSpec) -> str | None:
        ref = spec.auth.secret_ref if spec.auth else None
        return None if ref is None else await ctx.kube.secret_value(ctx.namespace, ref.name, ref.key)

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = ExternalModelEndpointSpec.model_validate(ctx.spec)
        problems = await resolve(externalendpoint_references(spec), ctx.namespace, ctx.kube)
        health = dict(ctx.status.get("health") or {})
        verdict = _previous_verdict(ctx.status)
        probing = spec.health_probe is None or spec.health_probe.enabled
        if not problems and probing:
            spec_changed = ctx.status.get("observedGeneration") != ctx.generation
            if probe_due(spec, health, spec_changed, ctx.now):
                answer = await self.prober.probe(spec, await self._key(ctx, spec))
                health, verdict = evaluate(
                    spec, health, answer.latency_ms, answer.vectors, answer.error, ctx.now
                )
        elif not probing:
            verdict = None
        reports = read_gateway_reports(ctx.status.get(GATEWAYS_FIELD), ctx.now)
        updates = [references_condition(problems)]
        if not problems:
            failures = int(health.get("consecutiveFailures") or 0)
            updates += with_breakers(health_conditions(spec, verdict, failures), reports)
        provisional = {"conditions": [{"type": u.type, "status": u.status.value} for u in updates]}
        offered = not problems and endpoint_routable(provisional)
        probed = {m["name"]: m["dimension"] for m in health.get("models") or []}
        own = (
            endpoint_offer(ctx.name, spec, probed)
            if offered
            else Contribution(source_of(EXTERNAL_MODEL_ENDPOINT.kind, ctx.name), ())
        )
        route_verdict, table = await self.routes.sync(ctx.namespace, ctx.indexes, own)
        updates.append(
            routed_condition(route_verdict, offered, table.version() if table else None, "not healthy")
        )
        updates.append(_ready(updates))
        remove = []
        events = []
        if self.rules is not None:
            group = endpoint_rules(ctx.name, ctx.namespace, spec.alerts)
            alerts = await self.rules.sync(ctx, EXTERNAL_MODEL_ENDPOINT.kind, "endpoint", group)
            if alerts is None:
                remove.append(ConditionType.ALERTS.value)
            else:
                updates.append(alerts)
            events = self.rules.take_events(ctx.uid)
        events += self.routes.take_events(ctx.namespace)
        extra: dict[str, Any] = {"health": health} if health else {}
        if reports.stale:  # replicas gone for good: their entries removed (a merge patch of nulls)
            extra[GATEWAYS_FIELD] = dict.fromkeys(reports.stale)
        return outcome(ctx, updates, extra, events, remove=remove)
