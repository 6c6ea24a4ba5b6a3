"""Registering a level-based reconcile function with kopf: on every change and on a timer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
import pydantic

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import GROUP, VERSION, KindInfo
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.settings import OperatorSettings
from vectorops.operator.status.conditions import ConditionUpdate, ready_transition
from vectorops.operator.status.patch import status_patch

ReconcileFn = Callable[[Context], Awaitable[Outcome]]
# Not-ready reasons that mean "on its way", not "something is wrong": their Events are Normal.
PROGRESS = {"RollingOut", Reason.RECONCILING.value}
Logger = logging.Logger | logging.LoggerAdapter[Any]


def _invalid_spec(ctx: Context, error: pydantic.ValidationError) -> Outcome:
    # The apiserver validated the object, so this means operator and CRD versions disagree.
    message = (
        f"the operator cannot read this spec (CRD and operator versions differ?): {error.errors()[0]['msg']}"
    )
    update = ConditionUpdate(
        ConditionType.READY.value, ConditionStatus.FALSE, Reason.INVALID_SPEC.value, message
    )
    return outcome(ctx, [update])


def post_events(body: kopf.Body, events: list[EventNote]) -> None:
    for e in events:
        (kopf.warn if e.type == "Warning" else kopf.info)(body, reason=e.reason, message=e.message[:1024])


def context(body: kopf.Body, kube: KubeReader) -> Context:
    meta = body.get("metadata", {})
    return Context(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace") or ""),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        kube=kube,
        now=datetime.now(UTC),
        annotations=dict(meta.get("annotations") or {}),
    )


def write_status(patch: kopf.Patch, current: Mapping[str, Any], result: Outcome) -> None:
    for key, value in status_patch(current, result.desired_status()).items():
        patch.status[key] = value


def register(
    registry: kopf.OperatorRegistry,
    kind: KindInfo,
    reconcile: ReconcileFn,
    kube: KubeReader,
    settings: OperatorSettings,
) -> None:
    """Run `reconcile` on create/update/resume and every resync interval; patch only what changed."""

    async def handler(body: kopf.Body, patch: kopf.Patch, logger: Logger, **_: Any) -> None:
        ctx = context(body, kube)
        try:
            result = await reconcile(ctx)
        except pydantic.ValidationError as e:
            result = _invalid_spec(ctx, e)
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

    resource = (GROUP, VERSION, kind.plural)
    hid = f"reconcile-{kind.singular}"
    kopf.on.resume(*resource, id=hid, registry=registry)(handler)
    kopf.on.create(*resource, id=hid, registry=registry)(handler)
    kopf.on.update(*resource, id=hid, field="spec", registry=registry)(handler)
    kopf.timer(
        *resource,
        id=f"resync-{kind.singular}",
        interval=settings.resync_seconds,
        initial_delay=settings.resync_seconds,
        registry=registry,
    )(handler)
