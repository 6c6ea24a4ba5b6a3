"""A VectorCollection's conditions: one per part it asks for, and Ready saying what is (not) in effect.

Ready never reports `Synced` for a part that was not built or not applied: a part the spec asks for but
this operator version does not build gets its own condition (Unknown, NotImplemented), and Ready, while
True because the Qdrant collection is usable, says `Incomplete` and names what is not in effect.

The PostgreSQL schema is different: when the spec asks for it and it is not there, the gateway refuses
the collection's writes, so Ready is False with the Schema condition's reason (the Collection condition
still says the Qdrant part is fine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.status.conditions import ConditionUpdate


@dataclass(frozen=True)
class Parts:
    """The conditions of the parts besides the Qdrant collection, and what they leave undone."""

    updates: list[ConditionUpdate]
    remove: list[str]
    gaps: list[str]


def _not_built(type_: ConditionType, field: str, what: str) -> tuple[ConditionUpdate, str]:
    gap = f"{field}: {what} not built by this operator version"
    return ConditionUpdate(type_.value, ConditionStatus.UNKNOWN, Reason.NOT_IMPLEMENTED.value, gap), gap


def part_conditions(spec: VectorCollectionSpec, alerts_built: bool = True) -> Parts:
    """`alerts_built`: whether this reconciler delivers alert rules (its RuleSync then sets Alerts)."""
    parts = Parts([], [], [])
    requested: list[tuple[ConditionType, str, str, bool]] = []
    if not alerts_built:
        requested.append(
            (ConditionType.ALERTS, "spec.alerts", "the collection's alert rules are",
             spec.alerts is not None and spec.alerts.enabled),
        )  # fmt: skip
    for type_, field, what, asked in requested:
        if not asked:
            parts.remove.append(type_.value)  # a part no longer asked for leaves no stale condition
            continue
        update, gap = _not_built(type_, field, what)
        parts.updates.append(update)
        parts.gaps.append(gap)
    return parts


def collection_synced(name: str, ignored: Sequence[str]) -> tuple[ConditionUpdate, list[str]]:
    """The Collection condition of a collection that matches the spec, and the gaps of an embedded
    engine, which accepts settings it does not keep."""
    kind = ConditionType.COLLECTION.value
    if not ignored:
        message = f"Qdrant collection {name} matches the spec"
        return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.SYNCED.value, message), []
    fields = ", ".join(ignored)
    message = (
        f"Qdrant collection {name} has the declared vectors and aliases; qdrant-client's embedded engine "
        f"(local: store) ignores {fields}: they take effect only on a Qdrant server"
    )
    update = ConditionUpdate(kind, ConditionStatus.TRUE, Reason.SETTINGS_IGNORED.value, message)
    return update, [f"{fields}: ignored by the embedded engine (local: store)"]


def ready(
    collection: ConditionUpdate, gaps: Sequence[str], schema: ConditionUpdate | None = None
) -> ConditionUpdate:
    """`schema`: the Schema condition, None when no schema is asked for."""
    kind = ConditionType.READY.value
    if collection.status is not ConditionStatus.TRUE:
        return ConditionUpdate(kind, ConditionStatus.FALSE, collection.reason, collection.message)
    if schema is not None and schema.status is not ConditionStatus.TRUE:
        message = (
            "the Qdrant collection is usable, but the PostgreSQL schema spec.postgresSchema asks for is "
            f"not ({schema.message}); the gateway refuses writes to this collection until it is"
        )
        return ConditionUpdate(kind, ConditionStatus.FALSE, schema.reason, message)
    if gaps:
        missing = "; ".join(gaps)
        message = f"the Qdrant collection is usable, but not everything asked for is in effect: {missing}"
        return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.INCOMPLETE.value, message)
    return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.SYNCED.value, collection.message)
