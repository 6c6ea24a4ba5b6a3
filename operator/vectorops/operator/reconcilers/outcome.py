"""What a reconcile pass produces: the desired status and the Events worth posting."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vectorops.operator.status.conditions import ConditionUpdate, merge_conditions


@dataclass(frozen=True)
class Outcome:
    """The result of one reconcile pass, independent of kopf."""

    conditions: list[dict[str, Any]]
    generation: int
    extra_status: dict[str, Any] = field(default_factory=dict)

    def desired_status(self) -> dict[str, Any]:
        return {"observedGeneration": self.generation, "conditions": self.conditions, **self.extra_status}


def outcome(
    status: Mapping[str, Any],
    generation: int,
    updates: Sequence[ConditionUpdate],
    now: datetime,
    extra_status: dict[str, Any] | None = None,
) -> Outcome:
    conditions = merge_conditions(status.get("conditions") or [], updates, generation, now)
    return Outcome(conditions=conditions, generation=generation, extra_status=extra_status or {})
