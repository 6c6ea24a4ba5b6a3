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
from vectorops.operator.reconcilers.outcome import Outcome, outcome
from vectorops.operator.settings import OperatorSettings
from vectorops.operator.status.conditions import ConditionUpdate, ready_transition
from vectorops.operator.status.patch import status_patch

# (spec, status, namespace, generation, kube, now) -> Outcome
ReconcileFn = Callable[
    [Mapping[str, Any], Mapping[str, Any], str, int, KubeReader, datetime], Awaitable[Outcome]
]


def _invalid_spec(status: Mapping[str, Any], generation: int, error: pydantic.ValidationError) -> Outcome:
    # The apiserver validated the object, so this means operator and CRD versions disagree.
    message = (
        f"the operator cannot read this spec (CRD and operator versions differ?): {error.errors()[0]['msg']}"
    )
    update = ConditionUpdate(
        ConditionType.READY.value, ConditionStatus.FALSE, Reason.INVALID_SPEC.value, message
    )
    return outcome(status, generation, [update], datetime.now(UTC))


def _post_event(body: kopf.Body, transition: Mapping[str, Any]) -> None:
    message = f"Ready={transition['status']}: {transition['message']}"
    if transition["status"] == ConditionStatus.FALSE.value:
        kopf.warn(body, reason=transition["reason"], message=message)
    else:
        kopf.info(body, reason=transition["reason"], message=message)


def register(
    registry: kopf.OperatorRegistry,
    kind: KindInfo,
    reconcile: ReconcileFn,
    kube: KubeReader,
    settings: OperatorSettings,
) -> None:
    """Run `reconcile` on create/update/resume and every resync interval; patch only what changed."""

    async def handler(
        body: kopf.Body,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **_: Any,
    ) -> None:
        current = dict(status)
        generation = int(meta.get("generation") or 0)
        try:
            result = await reconcile(
                dict(spec), current, meta.namespace or "", generation, kube, datetime.now(UTC)
            )
        except pydantic.ValidationError as e:
            result = _invalid_spec(current, generation, e)
        changes = status_patch(current, result.desired_status())
        for key, value in changes.items():
            patch.status[key] = value
        transition = ready_transition(current.get("conditions") or [], result.conditions)
        if transition is not None:
            logger.info("Ready=%s (%s)", transition["status"], transition["reason"])
            _post_event(body, transition)

    resource = (GROUP, VERSION, kind.plural)
    hid = f"reconcile-{kind.singular}"
    kopf.on.resume(*resource, id=hid, registry=registry)(handler)
    kopf.on.create(*resource, id=hid, registry=registry)(handler)
    kopf.on.update(*resource, id=hid, field="spec", registry=registry)(handler)
    kopf.timer(
        *resource,
        id=f"resync-{kind.singular}",
        interval=settings.resync_seconds,
        idle=None,
        initial_delay=settings.resync_seconds,
        registry=registry,
    )(handler)
