"""The collection binding ConfigMap, applied as a child of its VectorCollection on every pass (an
unchanged one at most once per `refresh_seconds`, like alert rules), pruned when it cannot be described."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vectorops.datastore.migrations import LATEST_VERSION
from vectorops.operator.adapters.kube import KubeFailure, KubeWriter
from vectorops.operator.api.conditions import ConditionStatus
from vectorops.operator.api.kinds import VECTOR_COLLECTION
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.collection_binding import (
    PartState,
    SchemaView,
    binding_configmap,
    build_binding,
)
from vectorops.operator.builders.qdrant_collection import DesiredCollection
from vectorops.operator.reconcilers.children import AppliedMemo, apply_or_prune
from vectorops.operator.reconcilers.outcome import Context, EventNote
from vectorops.operator.status.conditions import ConditionUpdate
from vectorops.routing.collections import BINDING_LABEL, CollectionBinding, binding_configmap_name

CONFIGMAP = ("v1", "ConfigMap")


@dataclass
class BindingSync:
    writer: KubeWriter
    refresh_seconds: float = 60.0
    _memo: AppliedMemo = field(init=False)

    def __post_init__(self) -> None:
        self._memo = AppliedMemo(self.refresh_seconds)

    def take_events(self, uid: str) -> list[EventNote]:
        """A DriftRepaired Event when the last sync put back a binding changed or deleted by hand."""
        return self._memo.take_events(uid)

    async def sync(self, ctx: Context, owner_kind: str, binding: CollectionBinding | None) -> str | None:
        """Apply the binding (None: delete ours, e.g. the store is gone); what failed, else None."""
        content = binding.to_json() if binding is not None else ""
        if not self._memo.due(ctx.uid, content):
            return None
        manifest = binding_configmap(binding) if binding is not None else None
        name = binding_configmap_name(ctx.name)
        try:
            stored = await apply_or_prune(
                self.writer, ctx, owner_kind, CONFIGMAP, name, manifest, BINDING_LABEL
            )
        except KubeFailure as e:
            self._memo.forget(ctx.uid)
            return f"binding ConfigMap {name} not applied: {e.message}"
        self._memo.record(ctx.uid, content, stored, f"ConfigMap {name} (the gateway's collection binding)")
        return None

    async def publish(
        self,
        ctx: Context,
        spec: VectorCollectionSpec,
        store_name: str,
        store: VectorStoreSpec | None,
        desired: DesiredCollection | None,
        model: Mapping[str, Any] | None,
        collection: ConditionUpdate,
        schema: SchemaView,
    ) -> str | None:
        """Build and apply the binding of what a pass found. Without a store or a dimension there is
        nothing to describe: a binding made earlier is removed (the gateway then no longer serves it)."""
        binding = None
        if store is not None and desired is not None:
            part = PartState(collection.status is ConditionStatus.TRUE, collection.reason, collection.message)
            binding = build_binding(
                ctx.name, ctx.namespace, spec, store_name, store, desired, part, model, schema, LATEST_VERSION
            )
        return await self.sync(ctx, VECTOR_COLLECTION.kind, binding)

    async def remove(self, ctx: Context, owner_kind: str) -> None:
        """On deletion: the gateway stops serving the collection now, not when a garbage collector runs."""
        self._memo.forget(ctx.uid)
        with contextlib.suppress(KubeFailure):  # the ownerReference still lets the garbage collector do it
            await apply_or_prune(
                self.writer, ctx, owner_kind, CONFIGMAP, binding_configmap_name(ctx.name), None, BINDING_LABEL
            )
