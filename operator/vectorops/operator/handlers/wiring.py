"""Registering a level-based reconcile function with kopf: on every change and on a timer."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import GROUP, VERSION, KindInfo
from vectorops.operator.handlers.passes import PassGate
from vectorops.operator.handlers.store_index import reader_for
from vectorops.operator.metrics import PROGRESS, OperatorMetrics
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.settings import OperatorSettings
from vectorops.operator.status.conditions import ConditionUpdate, ready_transition
from vectorops.operator.status.patch import status_patch

ReconcileFn = Callable[[Context], Awaitable[Outcome]]
# PROGRESS: not-ready reasons that mean "on its way", not "something is wrong": their Events are Normal
# (and the metrics do not count them as errors).
Logger = logging.Logger | logging.LoggerAdapter[Any]
log = logging.getLogger("vectorops.operator")


@dataclass(frozen=True)
class Wiring:
    """What every kind's handlers are registered with."""

    registry: kopf.OperatorRegistry
    kube: KubeReader
    settings: OperatorSettings
    gate: PassGate
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)


def _failed(ctx: Context, reason: str, message: str) -> Outcome:
    update = ConditionUpdate(ConditionType.READY.value, ConditionStatus.FALSE, reason, message)
    return outcome(ctx, [update])


def post_events(body: kopf.Body, events: list[EventNote]) -> None:
    for e in events:
        (kopf.warn if e.type == "Warning" else kopf.info)(body, reason=e.reason, message=e.message[:1024])


def context(body: kopf.Body, kube: KubeReader, kwargs: Mapping[str, Any] | None = None) -> Context:
    meta = body.get("metadata", {})
    indexes = {k: v for k, v in (kwargs or {}).items() if isinstance(v, kopf.Index)}
    return Context(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        kube=reader_for(kube, indexes),
        now=datetime.now(UTC),
        annotations=dict(meta.get("annotations") or {}),
        indexes=indexes,
    )


def write_status(patch: kopf.Patch, current: Mapping[str, Any], result: Outcome) -> None:
    for key, value in status_patch(current, result.desired_status()).items():
        patch.status[key] = value


async def run_pass(reconcile: ReconcileFn, ctx: Context) -> Outcome:
    """One pass; whatever goes wrong ends as a condition, never as an exception kopf would retry in a
    tight loop (the resync timer is the retry)."""
    result, _ = await _run_pass(reconcile, ctx)
    return result


async def _run_pass(reconcile: ReconcileFn, ctx: Context) -> tuple[Outcome, bool]:
    """run_pass, and whether the pass ended in an exception."""
    try:
        return await reconcile(ctx), False
    except pydantic.ValidationError as e:
        # The apiserver validated the object, so this means operator and CRD versions disagree.
        first = e.errors()[0]["msg"]
        message = f"the operator cannot read this spec (CRD and operator versions differ?): {first}"
        return _failed(ctx, Reason.INVALID_SPEC.value, message), True
    except Exception as e:
        log.exception("reconcile of %s/%s failed", ctx.namespace, ctx.name)
        message = f"unexpected {type(e).__name__}: {e}; retrying"
        return _failed(ctx, Reason.RECONCILE_ERROR.value, message), True


Handler = Callable[..., Awaitable[None]]


def make_handlers(
    gate: PassGate,
    kube: KubeReader,
    reconcile: ReconcileFn,
    kind: str = "",
    metrics: OperatorMetrics | None = None,
) -> tuple[Handler, Handler]:
    """The change handler and the resync handler of one kind, both passing through the gate; each
    pass is counted in `metrics` under `kind`."""

    async def handler(body: kopf.Body, patch: kopf.Patch, logger: Logger, **kwargs: Any) -> None:
        async with gate.hold(str(body.metadata.uid)):
            ctx = context(body, kube, kwargs)
            started = time.perf_counter()
            result, crashed = await _run_pass(reconcile, ctx)
            seconds = time.perf_counter() - started
        if metrics is not None:
            reasons = (e.reason for e in result.events)
            after = {**ctx.status, **result.desired_status()}  # the status once the patch is applied
            metrics.observe_pass(
                kind, ctx.uid, result.conditions, reasons, seconds, crashed, ctx.namespace, ctx.name, after
            )
        write_status(patch, ctx.status, result)
        events = list(result.events)
        transition = ready_transition(ctx.status.get("conditions") or [], result.conditions)
        if transition is not None:
            logger.info("Ready=%s (%s)", transition["status"], transition["reason"])
            failing = (
                transition["status"] == ConditionStatus.FALSE.value and transition["reason"] not in PROGRESS
            )
            level = "Warning" if failing else "Normal"
            events.append(
                EventNote(
                    level, transition["reason"], f"Ready={transition['status']}: {transition['message']}"
                )
            )
        post_events(body, events)

    async def resync_handler(body: kopf.Body, **kwargs: Any) -> None:
        if gate.busy(str(body.metadata.uid)):
            return  # a pass of this object is running or queued: it observes reality anyway
        if body.metadata.get("deletionTimestamp"):
            return  # being deleted: a pass now would recreate what the delete handler removes
        await handler(body=body, **kwargs)

    return handler, resync_handler


def make_forget(metrics: OperatorMetrics) -> Handler:
    """The watch-event handler that drops a deleted object from the objects gauge."""

    async def forget(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            metrics.forget(str(body.get("metadata", {}).get("uid", "")))

    return forget


def _deleted(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") == "DELETED"


def register(wiring: Wiring, kind: KindInfo, reconcile: ReconcileFn, interval: float | None = None) -> None:
    """Run `reconcile` on create/update/resume and every resync interval (or `interval`, for kinds whose
    passes decide themselves what is due, like probes); patch only what changed."""
    handler, resync_handler = make_handlers(wiring.gate, wiring.kube, reconcile, kind.kind, wiring.metrics)
    resync = min(interval, wiring.settings.resync_seconds) if interval else wiring.settings.resync_seconds

    resource = (GROUP, VERSION, kind.plural)
    hid = f"reconcile-{kind.singular}"
    registry = wiring.registry
    kopf.on.resume(*resource, id=hid, registry=registry)(handler)
    kopf.on.create(*resource, id=hid, registry=registry)(handler)
    kopf.on.update(*resource, id=hid, field="spec", registry=registry)(handler)
    # `idle`: a resync waits until the object has been quiet a moment, so it never starts from a
    # body that misses the status a change handler has just written.
    kopf.timer(
        *resource,
        id=f"resync-{kind.singular}",
        interval=resync,
        initial_delay=resync,
        idle=min(resync / 2, 10.0),
        registry=registry,
    )(resync_handler)
    # Only DELETED events reach this handler (the filter runs first), so no other event logs a line.
    kopf.on.event(*resource, id=f"metrics-forget-{kind.singular}", when=_deleted, registry=registry)(
        make_forget(wiring.metrics)
    )
