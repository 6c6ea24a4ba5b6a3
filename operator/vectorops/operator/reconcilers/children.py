"""Children an object owns: applied, or pruned when the spec no longer asks for them (never an object
of the same name that someone else owns)."""

from __future__ import annotations

from typing import Any

from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.kinds import API_VERSION
from vectorops.operator.reconcilers.outcome import Context

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
