"""Kinds whose backend reconciler is not in this release yet: references are checked for real,
and Ready stays Unknown with a reason that says so (never a fake True)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.api.conditions import ConditionStatus, Reason
from vectorops.operator.builders.references import Reference
from vectorops.operator.reconcilers.outcome import Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.status.readiness import ready_condition, references_condition


async def reconcile_references_only(
    spec: BaseModel,
    references: Callable[[Any], list[Reference]],
    what: str,
    status: Mapping[str, Any],
    namespace: str,
    generation: int,
    kube: KubeReader,
    now: datetime,
) -> Outcome:
    problems = await resolve(references(spec), namespace, kube)
    ready = ready_condition(
        problems,
        ok_reason=Reason.RECONCILER_PENDING.value,
        ok_message=f"spec and references are valid; this operator version does not yet {what}",
        ok_status=ConditionStatus.UNKNOWN,
    )
    return outcome(status, generation, [references_condition(problems), ready], now)
