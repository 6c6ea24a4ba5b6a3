"""metav1.Condition bookkeeping: transitions keep their time, Ready comes first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vectorops.operator.api.conditions import ConditionStatus, ConditionType

WireCondition = dict[str, Any]


@dataclass(frozen=True)
class ConditionUpdate:
    """The desired state of one condition, before timestamps and generations are added."""

    type: str
    status: ConditionStatus
    reason: str
    message: str


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes metav1.Time."""
    return when.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_condition(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def merge_conditions(
    current: Sequence[Mapping[str, Any]],
    updates: Iterable[ConditionUpdate],
    generation: int,
    now: datetime,
    remove: Iterable[str] = (),
) -> list[WireCondition]:
    """Apply updates to the current conditions, and drop the types in `remove` (a part no longer asked for).

    lastTransitionTime changes only when the status changes; conditions not named in the
    updates are kept as they are. Ready is listed first, the rest by type, so that equal
    inputs give byte-equal output (and no needless status writes).
    """
    gone = set(remove)
    by_type: dict[str, WireCondition] = {
        str(c["type"]): dict(c) for c in current if "type" in c and c["type"] not in gone
    }
    for u in updates:
        old = by_type.get(u.type)
        changed = old is None or old.get("status") != u.status.value
        by_type[u.type] = {
            "type": u.type,
            "status": u.status.value,
            "reason": u.reason,
            "message": u.message,
            "lastTransitionTime": format_time(now) if changed else old["lastTransitionTime"],  # type: ignore[index]
            "observedGeneration": generation,
        }
    ready = ConditionType.READY.value
    ordered = sorted(by_type.values(), key=lambda c: (c["type"] != ready, c["type"]))
    return ordered


def ready_transition(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The new Ready condition if its status or reason changed (worth an Event), else None."""
    old = find_condition(before, ConditionType.READY.value)
    new = find_condition(after, ConditionType.READY.value)
    if new is None:
        return None
    if old is None or (old.get("status"), old.get("reason")) != (new.get("status"), new.get("reason")):
        return new
    return None
