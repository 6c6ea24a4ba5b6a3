"""Children an object owns: applied, or pruned when the spec no longer asks for them (never an object
of the same name that someone else owns)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.conditions import Reason
from vectorops.operator.api.kinds import API_VERSION
from vectorops.operator.reconcilers.outcome import Context, EventNote

Manifest = dict[str, Any]


def owner_reference(ctx: Context, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


async def apply_or_prune(
    writer: KubeWriter,
    ctx: Context,
    owner_kind: str,
    kind: tuple[str, str],
    name: str,
    manifest: Manifest | None,
    marker: str | None = None,
) -> Manifest | None:
    """Apply the child (owned by `ctx`'s object) and return it as stored, or delete one we made earlier
    that is no longer wanted (None). `marker`: a label ("true") the child carries; only an object with
    it is pruned, so two children of one kind and name (rules and binding ConfigMaps) never prune each
    other's."""
    if manifest is not None:
        manifest["metadata"] |= {
            "namespace": ctx.namespace,
            "ownerReferences": [owner_reference(ctx, owner_kind)],
        }
        return await writer.apply(manifest, ctx.namespace)
    existing = await writer.get(kind[0], kind[1], ctx.namespace, name)
    owners = ((existing or {}).get("metadata") or {}).get("ownerReferences") or []
    labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
    if marker is not None and labels.get(marker) != "true":
        return None
    if any(o.get("uid") == ctx.uid for o in owners):  # never someone else's object of that name
        await writer.delete(kind[0], kind[1], ctx.namespace, name)
    return None


@dataclass
class AppliedMemo:
    """What was last applied for each object (its content, when, and the child's resourceVersion as the
    apply left it), so that an unchanged child is applied again only once per `refresh_seconds` (frequent
    passes cost no API call), and a refresh that moved the resourceVersion of unchanged content is known
    for what it is: the child had been edited or deleted by someone else, and was put back."""

    refresh_seconds: float = 60.0
    _done: dict[str, tuple[str, float, str | None]] = field(default_factory=dict)
    _repaired: dict[str, EventNote] = field(default_factory=dict)  # key -> a repair not yet told

    def due(self, key: str, content: str) -> bool:
        done = self._done.get(key)
        return done is None or done[0] != content or time.monotonic() - done[1] >= self.refresh_seconds

    def record(self, key: str, content: str, stored: Manifest | None, what: str) -> None:
        """After an apply of `content`: `stored` is the child as returned (None: pruned); `what` names
        it for the Event ("ConfigMap x (alert rules)")."""
        version = ((stored or {}).get("metadata") or {}).get("resourceVersion")
        done = self._done.get(key)
        if done is not None and done[0] == content and stored is not None and version != done[2]:
            self._repaired[key] = EventNote(
                "Warning",
                Reason.DRIFT_REPAIRED.value,
                f"{what} was changed or deleted outside the operator; restored it",
            )
        self._done[key] = (content, time.monotonic(), version)

    def forget(self, key: str) -> None:
        self._done.pop(key, None)

    def take_events(self, key: str) -> list[EventNote]:
        """The DriftRepaired Event of the last refresh that put a child back (given out once)."""
        note = self._repaired.pop(key, None)
        return [note] if note is not None else []
