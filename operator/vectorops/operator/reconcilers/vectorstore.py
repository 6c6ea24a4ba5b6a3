"""VectorStore: its Secrets exist, its Qdrant answers, and its PostgreSQL and Redis (when declared) answer.

Qdrant and PostgreSQL decide Ready: collections cannot be made without them. Redis only caches (the
embedders and the gateway bypass it when it fails), so a Redis outage sets the `Redis` condition False
and is named in Ready's message, while Ready stays True."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.postgres import PostgresPools
from vectorops.operator.adapters.probe import BackendProbe
from vectorops.operator.adapters.qdrant import ClientPool
from vectorops.operator.adapters.redis_probe import RedisProber
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.vectorstore import PostgresConnection, RedisConnection, VectorStoreSpec
from vectorops.operator.builders.references import vectorstore_references
from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.reconcilers.store import (
    StoreProblem,
    endpoint_for,
    postgres_target,
    redis_url,
    store_key,
)
from vectorops.operator.status.conditions import ConditionUpdate, format_time
from vectorops.operator.status.readiness import Problem, ready_condition, references_condition

# An unchanged probe result is written again only this often, so a healthy store's status is not
# rewritten (a new resourceVersion, a GitOps diff) on every resync just because latency wobbled.
PROBE_RECORD_SECONDS = 300.0


def probe_status(previous: Any, found: dict[str, Any], now: datetime) -> dict[str, Any]:
    """status.postgres or status.redis: `found` with the time, unless only latency changed since a recent
    record."""
    if isinstance(previous, dict) and previous.get("lastProbeTime"):
        same = all(previous.get(k) == found.get(k) for k in ("reachable", "serverVersion"))
        try:
            age = (
                now - datetime.fromisoformat(str(previous["lastProbeTime"]).replace("Z", "+00:00"))
            ).total_seconds()
        except ValueError:
            age = PROBE_RECORD_SECONDS
        if same and 0 <= age < PROBE_RECORD_SECONDS:
            return previous
    # A key the probe did not find is written as None, which removes it in the status merge patch:
    # otherwise a version kept from before an outage would differ from every later probe (a write per pass).
    return {"serverVersion": None, "latencyMs": None, **found, "lastProbeTime": format_time(now)}


@dataclass
class StoreReconciler:
    pool: ClientPool
    local_root: Path | None
    pg: PostgresPools | None = None  # None: PostgreSQL is not probed (unit tests of the Qdrant part)
    redis: RedisProber | None = None  # None: Redis is not probed (likewise)

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = VectorStoreSpec.model_validate(ctx.spec)
        namespace, kube = ctx.namespace, ctx.kube
        reference_problems = await resolve(vectorstore_references(spec), namespace, kube)
        problems = list(reference_problems)
        ok_reason, ok_message = "", ""
        updates: list[ConditionUpdate] = [references_condition(reference_problems)]
        extra: dict[str, Any] = {}
        remove: list[str] = []
        if not problems:  # without its Secrets the probe would only say something misleading
            try:
                endpoint = await endpoint_for(spec, namespace, kube, self.local_root)
            except StoreProblem as e:
                problems.append(e.problem)
            else:
                result = await qdrant.probe(endpoint, self.pool, store_key(namespace, ctx.name))
                ok_reason, ok_message = result.reason, result.message
                if not result.ok:
                    problems.append(Problem(result.reason, result.message))
        if spec.postgres is not None and self.pg is not None:
            condition, found = await self._probe_postgres(ctx, spec.postgres, self.pg)
            updates.append(condition)
            if found is not None:
                extra["postgres"] = probe_status(ctx.status.get("postgres"), found, ctx.now)
            if condition.status is not ConditionStatus.TRUE and not reference_problems:
                # A store whose declared PostgreSQL is down is not ready: its collections' schemas
                # cannot be made and the gateway refuses their writes.
                message = f"the declared PostgreSQL (spec.postgres) is not usable: {condition.message}"
                problems.append(Problem(condition.reason, message))
            elif not problems:
                ok_message = f"{ok_message}; {condition.message}"
        elif spec.postgres is None:
            remove.append(ConditionType.POSTGRES.value)
            if ctx.status.get("postgres") is not None:
                extra["postgres"] = None
        if spec.redis is not None and self.redis is not None:
            condition, found = await self._probe_redis(ctx, spec.redis, self.redis)
            updates.append(condition)
            if found is not None:
                extra["redis"] = probe_status(ctx.status.get("redis"), found, ctx.now)
            if not problems:
                ok_message = (
                    f"{ok_message}; {condition.message}"
                    if condition.status is ConditionStatus.TRUE
                    else f"{ok_message}; the embedders' cache is bypassed: {condition.message}"
                )
        elif spec.redis is None:
            remove.append(ConditionType.REDIS.value)
            if ctx.status.get("redis") is not None:
                extra["redis"] = None
        updates.append(
            ready_condition(
                problems, ok_reason=ok_reason, ok_message=ok_message, ok_status=ConditionStatus.TRUE
            )
        )
        return outcome(ctx, updates, extra, remove=remove)

    @staticmethod
    async def _probe_redis(
        ctx: Context, spec: RedisConnection, prober: RedisProber
    ) -> tuple[ConditionUpdate, dict[str, Any] | None]:
        try:
            url = await redis_url(spec, ctx.namespace, ctx.kube)
        except StoreProblem as e:
            return _unprobed(ConditionType.REDIS, e), None
        return _probed(ConditionType.REDIS, await prober.probe(url))

    @staticmethod
    async def _probe_postgres(
        ctx: Context, spec: PostgresConnection, pools: PostgresPools
    ) -> tuple[ConditionUpdate, dict[str, Any] | None]:
        try:
            _, target = await postgres_target(spec, ctx.namespace, ctx.kube, pools)
        except StoreProblem as e:
            return _unprobed(ConditionType.POSTGRES, e), None
        return _probed(ConditionType.POSTGRES, await pools.probe(store_key(ctx.namespace, ctx.name), target))


def _unprobed(kind: ConditionType, e: StoreProblem) -> ConditionUpdate:
    """Not probed: its connection settings could not be read (a Secret or key missing, a bad DSN)."""
    return ConditionUpdate(kind.value, ConditionStatus.FALSE, e.problem.reason, e.problem.message)


def _probed(kind: ConditionType, probe: BackendProbe) -> tuple[ConditionUpdate, dict[str, Any]]:
    """The condition of a probed backend and what status.<backend> records of it."""
    if not probe.reachable:
        return ConditionUpdate(kind.value, ConditionStatus.FALSE, probe.reason, probe.message), {
            "reachable": False
        }
    found = {"reachable": True, "serverVersion": probe.server_version, "latencyMs": probe.latency_ms}
    return ConditionUpdate(kind.value, ConditionStatus.TRUE, Reason.CONNECTED.value, probe.message), found
