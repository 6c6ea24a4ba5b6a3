"""From resolved references and backend checks to the Ready and ReferencesResolved conditions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.status.conditions import ConditionUpdate


@dataclass(frozen=True)
class Problem:
    """Something that keeps a resource from being Ready, in words a human can act on."""

    reason: str
    message: str


def references_condition(problems: Sequence[Problem]) -> ConditionUpdate:
    if not problems:
        return ConditionUpdate(
            ConditionType.REFERENCES.value,
            ConditionStatus.TRUE,
            Reason.RESOLVED.value,
            "all referenced objects exist",
        )
    return ConditionUpdate(
        ConditionType.REFERENCES.value,
        ConditionStatus.FALSE,
        problems[0].reason,
        "; ".join(p.message for p in problems),
    )


def ready_condition(
    problems: Sequence[Problem], *, ok_reason: str, ok_message: str, ok_status: ConditionStatus
) -> ConditionUpdate:
    """Ready is False with the first problem's reason, else the status the reconciler vouches for."""
    if problems:
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.FALSE,
            problems[0].reason,
            "; ".join(p.message for p in problems),
        )
    return ConditionUpdate(ConditionType.READY.value, ok_status, ok_reason, ok_message)
