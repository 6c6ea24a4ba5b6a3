"""Kinds whose backend reconciler is not in this release yet: references are checked for real,
and Ready stays Unknown with a reason that says so (never a fake True)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from vectorops.operator.api.conditions import ConditionStatus, Reason
from vectorops.operator.builders.references import Reference
from vectorops.operator.reconcilers.outcome import Context, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.status.readiness import ready_condition, references_condition


async def reconcile_references_only(
    spec: BaseModel,
    references: Callable[[Any], list[Reference]],
    what: str,
    ctx: Context,
) -> Outcome:
    problems = await resolve(references(spec), ctx.namespace, ctx.kube)
    ready = ready_condition(
        problems,
        ok_reason=Reason.RECONCILER_PENDING.value,
        ok_message=f"spec and references are valid; this operator version does not yet {what}",
        ok_status=ConditionStatus.UNKNOWN,
    )
    return outcome(ctx, [references_condition(problems), ready])
