"""What a reconcile pass gets (Context) and produces (Outcome), independent of kopf."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vectorops.operator.adapters.kube import KubeReader
from vectorops.operator.status.conditions import ConditionUpdate, merge_conditions


@dataclass(frozen=True)
class Context:
    """One object as the handler saw it, plus the clients a reconciler may use."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    kube: KubeReader
    now: datetime
    annotations: Mapping[str, str] = field(default_factory=dict)
    indexes: Mapping[str, Any] = field(default_factory=dict)
    """kopf's in-memory indexes (by index id), e.g. the route sources of every namespace."""


@dataclass(frozen=True)
class EventNote:
    """A Kubernetes Event to post: type is Normal or Warning."""

    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class Outcome:
    """The result of one reconcile pass."""

    conditions: list[dict[str, Any]]
    generation: int
    extra_status: dict[str, Any] = field(default_factory=dict)
    events: list[EventNote] = field(default_factory=list)

    def desired_status(self) -> dict[str, Any]:
        return {"observedGeneration": self.generation, "conditions": self.conditions, **self.extra_status}


def outcome(
    ctx: Context,
    updates: Sequence[ConditionUpdate],
    extra_status: dict[str, Any] | None = None,
    events: list[EventNote] | None = None,
    remove: Sequence[str] = (),
) -> Outcome:
    conditions = merge_conditions(
        ctx.status.get("conditions") or [], updates, ctx.generation, ctx.now, remove
    )
    return Outcome(
        conditions=conditions, generation=ctx.generation, extra_status=extra_status or {}, events=events or []
    )
