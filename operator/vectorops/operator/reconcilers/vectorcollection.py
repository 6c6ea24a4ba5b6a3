"""VectorCollection -> Qdrant: create, update in place, report what cannot change, repair drift, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.qdrant import ClientPool, QdrantEndpoint, QdrantFailure
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import EMBEDDING_MODEL
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.builders.collection_diff import CollectionDiff, ObservedCollection, diff_collection
from vectorops.operator.builders.qdrant_collection import (
    DesiredCollection,
    DimensionError,
    build_desired,
    resolve_dimension,
)
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.reconcilers.store import StoreProblem, load_store, store_key
from vectorops.operator.status.conditions import ConditionUpdate, format_time
from vectorops.operator.status.readiness import Problem, references_condition

FORCE_DELETE_ANNOTATION = "vectorops.io/force-delete"
REBUILD_HINT = (
    "create a new VectorCollection with another collectionName and migrate, or drop the Qdrant collection "
    "yourself to let the operator recreate it empty"
)


def _failed(ctx: Context, problem: Problem, references: Sequence[Problem] = ()) -> Outcome:
    updates = [
        references_condition(references),
        ConditionUpdate(
            ConditionType.COLLECTION.value, ConditionStatus.FALSE, problem.reason, problem.message
        ),
        ConditionUpdate(ConditionType.READY.value, ConditionStatus.FALSE, problem.reason, problem.message),
    ]
    return outcome(ctx, updates)


def _observed_status(desired: DesiredCollection, observed: ObservedCollection) -> dict[str, Any]:
    return {
        "collectionName": desired.name,
        "dimension": desired.dimension,
        "qdrantStatus": observed.status,
        "pointsCount": observed.points_count,
        "indexedVectorsCount": observed.indexed_vectors_count,
        "segmentsCount": observed.segments_count,
    }


@dataclass
class CollectionReconciler:
    pool: ClientPool
    default_store: str | None

    def store_name(self, spec: VectorCollectionSpec) -> str:
        return spec.store_ref.name if spec.store_ref else (self.default_store or "")

    async def _desired(self, ctx: Context, spec: VectorCollectionSpec) -> DesiredCollection:
        model_name = spec.embedding_model_ref.name if spec.embedding_model_ref else None
        model_dimension = None
        if model_name is not None:
            model = await ctx.kube.get_custom_object(EMBEDDING_MODEL.plural, ctx.namespace, model_name)
            if model is None:
                raise StoreProblem(
                    Problem(
                        Reason.MODEL_NOT_FOUND.value,
                        f"EmbeddingModel {ctx.namespace}/{model_name} (spec.embeddingModelRef) not found",
                    )
                )
            model_dimension = (model.get("status") or {}).get("dimension")
        dimension = resolve_dimension(spec, model_name, model_dimension)
        return build_desired(spec, ctx.name, dimension)

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = VectorCollectionSpec.model_validate(ctx.spec)
        try:  # each lookup reports its own missing reference, so nothing is read twice
            _, endpoint = await load_store(ctx.namespace, self.store_name(spec), ctx.kube)
            desired = await self._desired(ctx, spec)
        except StoreProblem as e:
            return _failed(ctx, e.problem, [e.problem])
        except DimensionError as e:
            return _failed(ctx, Problem(e.reason, str(e)))
        try:
            return await self._sync(ctx, spec, desired, endpoint)
        except Exception as e:
            failure = qdrant.classify(e, endpoint.url)
            return _failed(ctx, Problem(failure.reason, failure.message))

    async def _sync(
        self, ctx: Context, spec: VectorCollectionSpec, desired: DesiredCollection, endpoint: QdrantEndpoint
    ) -> Outcome:
        client = await self.pool.get(store_key(ctx.namespace, self.store_name(spec)), endpoint)
        events: list[EventNote] = []
        status: dict[str, Any] = {}
        observed = await qdrant.observe(client, desired.name)
        if observed is None:
            await qdrant.create(client, desired)
            status["lastAppliedTime"] = format_time(ctx.now)
            if ctx.status.get("configHash") and ctx.status.get("collectionName") == desired.name:
                events.append(
                    EventNote(
                        "Warning",
                        Reason.DRIFT_REPAIRED.value,
                        f"Qdrant collection {desired.name} was missing (deleted outside the operator?); "
                        "recreated it empty",
                    )
                )
            else:
                events.append(
                    EventNote("Normal", Reason.CREATED.value, f"Created Qdrant collection {desired.name}")
                )
            observed = await qdrant.observe(client, desired.name)
            if observed is None:
                raise QdrantFailure(
                    "BackendError", f"Qdrant does not list collection {desired.name} after creating it"
                )
        diff = diff_collection(desired, observed, full=endpoint.local_path is None)
        if diff.rebuild:
            return self._requires_rebuild(ctx, desired, observed, diff, status)
        if not diff.empty:
            await qdrant.apply(client, desired.name, diff)
            status["lastAppliedTime"] = format_time(ctx.now)
            events.append(self._change_event(ctx, desired, diff))
            observed = await qdrant.observe(client, desired.name) or observed
        status.update(
            _observed_status(desired, observed), configHash=desired.config_hash(), pendingChanges=[]
        )
        message = f"Qdrant collection {desired.name} matches the spec"
        updates = [
            references_condition([]),
            ConditionUpdate(
                ConditionType.COLLECTION.value, ConditionStatus.TRUE, Reason.SYNCED.value, message
            ),
            ConditionUpdate(ConditionType.READY.value, ConditionStatus.TRUE, Reason.SYNCED.value, message),
        ]
        return outcome(ctx, updates, status, events)

    @staticmethod
    def _change_event(ctx: Context, desired: DesiredCollection, diff: CollectionDiff) -> EventNote:
        unchanged_spec = ctx.status.get("configHash") == desired.config_hash()
        if unchanged_spec:
            return EventNote(
                "Warning",
                Reason.DRIFT_REPAIRED.value,
                f"Qdrant collection {desired.name} drifted from the spec; repaired: {diff.summary()}",
            )
        return EventNote(
            "Normal", Reason.UPDATED.value, f"Updated Qdrant collection {desired.name}: {diff.summary()}"
        )

    @staticmethod
    def _requires_rebuild(
        ctx: Context,
        desired: DesiredCollection,
        observed: ObservedCollection,
        diff: CollectionDiff,
        status: dict[str, Any],
    ) -> Outcome:
        fields = "; ".join(c.describe() for c in diff.rebuild)
        message = (
            f"Qdrant collection {desired.name} differs where Qdrant cannot change it in place ({fields}); "
            + REBUILD_HINT
        )
        status.update(
            _observed_status(desired, observed), pendingChanges=[c.describe() for c in diff.rebuild]
        )
        updates = [
            references_condition([]),
            ConditionUpdate(
                ConditionType.COLLECTION.value, ConditionStatus.FALSE, Reason.REQUIRES_REBUILD.value, message
            ),
            ConditionUpdate(
                ConditionType.READY.value, ConditionStatus.FALSE, Reason.REQUIRES_REBUILD.value, message
            ),
        ]
        return outcome(ctx, updates, status)

    async def delete(self, ctx: Context) -> EventNote:
        """Honour deletionPolicy. Raises QdrantFailure/StoreProblem when Qdrant cannot be reached."""
        spec = VectorCollectionSpec.model_validate(ctx.spec)
        name = spec.collection_name or ctx.name
        if spec.deletion_policy.value == "Retain":
            return EventNote("Normal", "Retained", f"deletionPolicy Retain: kept Qdrant collection {name}")
        if ctx.annotations.get(FORCE_DELETE_ANNOTATION) == "true":
            return EventNote(
                "Warning",
                "ForceDeleted",
                f"{FORCE_DELETE_ANNOTATION}=true: removed without deleting Qdrant collection {name}",
            )
        key = store_key(ctx.namespace, self.store_name(spec))
        try:
            _, endpoint = await load_store(ctx.namespace, self.store_name(spec), ctx.kube)
            client = await self.pool.get(key, endpoint)
            where = endpoint.url
        except StoreProblem:
            cached = self.pool.cached(key)  # the store may be deleted first (namespace deletion)
            if cached is None:
                raise
            client, where = cached, key
        try:
            existed = await qdrant.delete(client, name)
        except Exception as e:
            raise qdrant.classify(e, where) from e
        verb = "Deleted" if existed else "Qdrant collection was already gone:"
        return EventNote("Normal", "Deleted", f"{verb} {name} (deletionPolicy Delete)")
