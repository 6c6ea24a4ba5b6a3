"""VectorCollection -> Qdrant: create, update in place, report what cannot change or did not apply,
repair drift, never touch a collection owned elsewhere, delete by policy. The PostgreSQL schema
(reconcilers/schema.py) and the gateway's binding (reconcilers/binding.py) follow on every pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import AsyncQdrantClient
from qdrant_client.http.exceptions import UnexpectedResponse

from vectorops.operator.adapters import qdrant
from vectorops.operator.adapters.kube import KubeFailure
from vectorops.operator.adapters.postgres import PostgresPools
from vectorops.operator.adapters.qdrant import ClientPool, QdrantEndpoint, QdrantFailure
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.kinds import EMBEDDING_MODEL, VECTOR_COLLECTION, VECTOR_STORE
from vectorops.operator.api.vectorcollection import VectorCollectionSpec
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.alert_rules import collection_rules
from vectorops.operator.builders.collection_diff import CollectionDiff, ObservedCollection, diff_collection
from vectorops.operator.builders.collection_ownership import Claim, Owner, claim
from vectorops.operator.builders.qdrant_collection import (
    DesiredCollection,
    DimensionError,
    build_desired,
    ignored_by_embedded_engine,
    resolve_dimension,
)
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.binding import BindingSync
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.reconcilers.schema import SchemaSync
from vectorops.operator.reconcilers.store import StoreProblem, load_store, store_key
from vectorops.operator.status import collection as collection_status
from vectorops.operator.status.conditions import ConditionUpdate, format_time
from vectorops.operator.status.readiness import Problem, references_condition

FORCE_DELETE_ANNOTATION = "vectorops.io/force-delete"
REBUILD_HINT = (
    "create a new VectorCollection with another collectionName and migrate, or drop the Qdrant collection "
    "yourself to let the operator recreate it empty"
)


def _collection(status: ConditionStatus, reason: str, message: str) -> ConditionUpdate:
    return ConditionUpdate(ConditionType.COLLECTION.value, status, reason, message)


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
class Synced:
    """What one pass against Qdrant found and did."""

    condition: ConditionUpdate
    status: dict[str, Any] = field(default_factory=dict)
    events: list[EventNote] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)


def _me(ctx: Context) -> Owner:
    return Owner(ctx.namespace, ctx.name, ctx.uid)


def _managed_before(ctx: Context, name: str) -> bool:
    """This object's status already names the collection: it has managed it (so a missing ownership
    record is ours to restore)."""
    return ctx.status.get("collectionName") == name and bool(ctx.status.get("configHash"))


@dataclass
class CollectionReconciler:
    pool: ClientPool
    default_store: str | None
    local_root: Path | None = None
    rules: RuleSync | None = None  # None: alert rules not delivered (Alerts says NotImplemented)
    schemas: SchemaSync = field(default_factory=lambda: SchemaSync(PostgresPools()))
    bindings: BindingSync | None = None  # None: no binding written (unit tests of the Qdrant part)

    def store_name(self, spec: VectorCollectionSpec) -> str:
        return spec.store_ref.name if spec.store_ref else (self.default_store or "")

    async def _desired(
        self, ctx: Context, spec: VectorCollectionSpec
    ) -> tuple[DesiredCollection, dict[str, Any] | None]:
        """The collection to reconcile, and the EmbeddingModel object it is bound to (if any)."""
        model_name = spec.embedding_model_ref.name if spec.embedding_model_ref else None
        model_dimension, model = None, None
        if model_name is not None:
            model = await ctx.kube.get_custom_object(EMBEDDING_MODEL.plural, ctx.namespace, model_name)
            if model is None:
                raise StoreProblem(
                    Problem(
                        Reason.MODEL_NOT_FOUND.value,
                        f"EmbeddingModel {ctx.namespace}/{model_name} (spec.embeddingModelRef) not found",
                    )
                )
            # What the running embedder serves, else what the model declares it will serve.
            model_dimension = (model.get("status") or {}).get("dimension") or (model.get("spec") or {}).get(
                "dimension"
            )
        dimension = resolve_dimension(spec, model_name, model_dimension)
        return build_desired(spec, ctx.name, dimension), model

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = VectorCollectionSpec.model_validate(ctx.spec)
        parts = collection_status.part_conditions(spec, alerts_built=self.rules is not None)
        if self.rules is not None:
            alerts = await self.rules.sync(
                ctx, VECTOR_COLLECTION.kind, "collection", collection_rules(ctx.name, ctx.namespace, spec)
            )
            if alerts is None:
                parts.remove.append(ConditionType.ALERTS.value)
            else:
                parts.updates.append(alerts)
                if alerts.status is not ConditionStatus.TRUE:
                    parts.gaps.append(f"spec.alerts: {alerts.message}")
        references: Sequence[Problem] = ()
        store: VectorStoreSpec | None = None
        desired: DesiredCollection | None = None
        model: dict[str, Any] | None = None
        try:  # each lookup reports its own missing reference, so nothing is read twice
            store, endpoint = await load_store(
                ctx.namespace, self.store_name(spec), ctx.kube, self.local_root
            )
            desired, model = await self._desired(ctx, spec)
        except StoreProblem as e:
            references = [e.problem]
            result = Synced(_collection(ConditionStatus.FALSE, e.problem.reason, e.problem.message))
        except DimensionError as e:
            result = Synced(_collection(ConditionStatus.FALSE, e.reason, str(e)))
        else:
            try:
                result = await self._sync(ctx, spec, desired, endpoint)
            except Exception as e:
                failure = qdrant.classify(e, endpoint.where)
                result = Synced(_collection(ConditionStatus.FALSE, failure.reason, failure.message))
        # The schema is reconciled whatever became of Qdrant: each part reports its own failure.
        schema = await self.schemas.sync(ctx, spec, self.store_name(spec), store)
        if schema.condition is None:
            parts.remove.append(ConditionType.SCHEMA.value)
        else:
            parts.updates.append(schema.condition)
        unbound = None
        if self.bindings is not None:
            unbound = await self.bindings.publish(
                ctx, spec, self.store_name(spec), store, desired, model, result.condition, schema.view(spec)
            )
        gaps = [*result.gaps, *parts.gaps, *([unbound] if unbound else [])]
        ready = collection_status.ready(result.condition, gaps, schema.condition)
        updates = [references_condition(references), result.condition, *parts.updates, ready]
        status = {**result.status, **schema.status}
        events = [*result.events, *schema.events]
        if self.rules is not None:
            events += self.rules.take_events(ctx.uid)
        if self.bindings is not None:
            events += self.bindings.take_events(ctx.uid)
        return outcome(ctx, updates, status, events, remove=parts.remove)

    async def _sync(
        self, ctx: Context, spec: VectorCollectionSpec, desired: DesiredCollection, endpoint: QdrantEndpoint
    ) -> Synced:
        client = await self.pool.get(store_key(ctx.namespace, self.store_name(spec)), endpoint)
        events: list[EventNote] = []
        status: dict[str, Any] = {}
        observed = await qdrant.observe(client, desired.name)
        if observed is None:
            observed = await self._create(ctx, client, desired, status, events)
        refused = await self._claim(ctx, spec, client, desired, observed, events)
        if refused is not None:
            return refused
        contested = await self._contested_aliases(ctx, client, desired, observed)
        full = endpoint.local_path is None
        diff = diff_collection(desired, observed, full=full, contested=frozenset(contested))
        if diff.rebuild:
            return self._requires_rebuild(desired, observed, diff, status)
        not_applied: list[str] = []
        if not diff.empty:
            remembered = (
                set(ctx.status.get("notApplied") or [])
                if ctx.status.get("configHash") == desired.config_hash()
                else set()
            )
            changes = [c.describe() for c in diff.changes]
            if set(changes) <= remembered:
                not_applied = changes  # Qdrant ignored these before: sending them again changes nothing
            else:
                await qdrant.apply(client, desired.name, diff)
                status["lastAppliedTime"] = format_time(ctx.now)
                observed = await qdrant.observe(client, desired.name) or observed
                after = diff_collection(desired, observed, full=full, contested=frozenset(contested))
                not_applied = [c.describe() for c in after.changes]
                applied = [c for c in diff.changes if c.describe() not in set(not_applied)]
                if applied:
                    events.append(self._change_event(ctx, desired, CollectionDiff(changes=applied)))
        status.update(
            _observed_status(desired, observed),
            configHash=desired.config_hash(),
            pendingChanges=[],
            notApplied=not_applied,
        )
        condition, gaps = self._verdict(desired, observed, not_applied, contested, spec, local=not full)
        return Synced(condition, status, events, gaps)

    @staticmethod
    def _verdict(
        desired: DesiredCollection,
        observed: ObservedCollection,
        not_applied: list[str],
        contested: dict[str, Owner],
        spec: VectorCollectionSpec,
        local: bool,
    ) -> tuple[ConditionUpdate, list[str]]:
        """The Collection condition of a collection that is ours, and what it leaves undone."""
        if not_applied:
            return _collection(
                ConditionStatus.FALSE,
                Reason.NOT_APPLIED.value,
                f"Qdrant accepted but did not apply: {'; '.join(not_applied)} (a Qdrant version that does "
                "not know these settings?); they are not sent again until the spec or the collection changes",
            ), []
        if contested:
            held = "; ".join(
                f"{alias} is held by {owner.describe()}, which declares it too"
                for alias, owner in contested.items()
            )
            return _collection(
                ConditionStatus.FALSE,
                "AliasConflict",
                f"aliases not applied: {held}; remove the alias from one of them",
            ), []
        if observed.status == "red":
            return _collection(
                ConditionStatus.FALSE,
                Reason.COLLECTION_RED.value,
                f"Qdrant reports collection {desired.name} red: "
                f"{observed.optimizer_error or 'no reason given'}",
            ), []
        ignored = ignored_by_embedded_engine(spec) if local else []
        return collection_status.collection_synced(desired.name, ignored)

    async def _create(
        self,
        ctx: Context,
        client: AsyncQdrantClient,
        desired: DesiredCollection,
        status: dict[str, Any],
        events: list[EventNote],
    ) -> ObservedCollection:
        try:
            await qdrant.create(client, desired, _me(ctx))
        except UnexpectedResponse as e:
            if e.status_code != 409:
                raise
            # Created meanwhile by someone else: whose it is, the ownership check says next.
        else:
            status["lastAppliedTime"] = format_time(ctx.now)
            if _managed_before(ctx, desired.name):
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
        return observed

    async def _claim(
        self,
        ctx: Context,
        spec: VectorCollectionSpec,
        client: AsyncQdrantClient,
        desired: DesiredCollection,
        observed: ObservedCollection,
        events: list[EventNote],
    ) -> Synced | None:
        """Check the ownership record before any write; a refusal when the collection is not ours."""
        me, name = _me(ctx), desired.name
        verdict = claim(observed.owner, me, _managed_before(ctx, name), spec.adopt_existing)
        if verdict is Claim.ELSEWHERE:
            assert observed.owner is not None
            return Synced(
                _collection(
                    ConditionStatus.FALSE,
                    Reason.OWNED_ELSEWHERE.value,
                    f"Qdrant collection {name} belongs to {observed.owner.describe()}: it is not changed or "
                    "deleted by this resource; choose another spec.collectionName",
                )
            )
        if verdict is Claim.UNOWNED:
            return Synced(
                _collection(
                    ConditionStatus.FALSE,
                    Reason.NOT_OWNED.value,
                    f"Qdrant collection {name} exists but was not created by vectorops (no ownership "
                    "record): set spec.adoptExisting: true to manage it (its settings will be changed to "
                    "match the spec), or choose another spec.collectionName",
                )
            )
        if verdict is Claim.OURS:
            return None
        await qdrant.stamp(client, name, me)
        if verdict is Claim.ADOPT:
            events.append(
                EventNote("Normal", Reason.ADOPTED.value, f"Adopted existing Qdrant collection {name}")
            )
        elif observed.owner is None:
            events.append(
                EventNote(
                    "Warning",
                    Reason.DRIFT_REPAIRED.value,
                    f"Qdrant collection {name} had lost its ownership record; restored it",
                )
            )
        else:
            events.append(
                EventNote(
                    "Normal",
                    Reason.ADOPTED.value,
                    f"Took over Qdrant collection {name} from an earlier VectorCollection of this name",
                )
            )
        return None

    @staticmethod
    async def _contested_aliases(
        ctx: Context, client: AsyncQdrantClient, desired: DesiredCollection, observed: ObservedCollection
    ) -> dict[str, Owner]:
        """Declared aliases that point at another collection whose owning VectorCollection declares them
        too: re-pointing them would make two resources take an alias from each other forever."""
        contested: dict[str, Owner] = {}
        me = _me(ctx)
        for alias in sorted(desired.aliases - observed.aliases):
            target = observed.all_aliases.get(alias)
            if target is None:
                continue
            _, owner = await qdrant.recorded_owner(client, target)
            if owner is None or owner.same_object(me):
                continue
            try:
                other = await ctx.kube.get_custom_object(
                    VECTOR_COLLECTION.plural, owner.namespace, owner.name
                )
            except KubeFailure:
                other = {"spec": {"aliases": [alias]}}  # cannot tell (e.g. no access): leave it alone
            if other is not None and alias in ((other.get("spec") or {}).get("aliases") or []):
                contested[alias] = owner
        return contested

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
        desired: DesiredCollection, observed: ObservedCollection, diff: CollectionDiff, status: dict[str, Any]
    ) -> Synced:
        fields = "; ".join(c.describe() for c in diff.rebuild)
        message = (
            f"Qdrant collection {desired.name} differs where Qdrant cannot change it in place ({fields}); "
            + REBUILD_HINT
        )
        status.update(
            _observed_status(desired, observed), pendingChanges=[c.describe() for c in diff.rebuild]
        )
        return Synced(_collection(ConditionStatus.FALSE, Reason.REQUIRES_REBUILD.value, message), status)

    async def delete(self, ctx: Context) -> list[EventNote]:
        """Honour deletionPolicy for the Qdrant collection and the PostgreSQL schema, each only when this
        resource owns it. Raises QdrantFailure, PostgresFailure or StoreProblem when a backend cannot be
        reached (the deletion is retried; the Qdrant part is idempotent)."""
        spec = VectorCollectionSpec.model_validate(ctx.spec)
        name = spec.collection_name or ctx.name
        if self.bindings is not None:  # first: the gateway stops writing to what is about to be dropped
            await self.bindings.remove(ctx, VECTOR_COLLECTION.kind)
        if ctx.annotations.get(FORCE_DELETE_ANNOTATION) == "true" and spec.deletion_policy.value == "Delete":
            what = f"Qdrant collection {name}" + (
                " or its PostgreSQL schema" if ctx.status.get("schemaName") else ""
            )
            notes = [
                EventNote(
                    "Warning",
                    "ForceDeleted",
                    f"{FORCE_DELETE_ANNOTATION}=true: removed without deleting {what}",
                )
            ]
        else:
            notes = await self._delete_data(ctx, spec, name)
        return notes

    async def _delete_data(self, ctx: Context, spec: VectorCollectionSpec, name: str) -> list[EventNote]:
        notes = [await self._delete_qdrant(ctx, spec, name)]
        store_obj = await ctx.kube.get_custom_object(
            VECTOR_STORE.plural, ctx.namespace, self.store_name(spec)
        )
        store = VectorStoreSpec.model_validate(store_obj.get("spec") or {}) if store_obj is not None else None
        schema_note = await self.schemas.drop(ctx, spec, self.store_name(spec), store)
        if schema_note is not None:
            notes.append(schema_note)
        return notes

    async def _delete_qdrant(self, ctx: Context, spec: VectorCollectionSpec, name: str) -> EventNote:
        if spec.deletion_policy.value == "Retain":
            return EventNote("Normal", "Retained", f"deletionPolicy Retain: kept Qdrant collection {name}")
        key = store_key(ctx.namespace, self.store_name(spec))
        try:
            _, endpoint = await load_store(ctx.namespace, self.store_name(spec), ctx.kube, self.local_root)
            client = await self.pool.get(key, endpoint)
            where = endpoint.where
        except StoreProblem:
            cached = self.pool.cached(key)  # the store may be deleted first (namespace deletion)
            if cached is None:
                raise
            client, where = cached, key
        try:
            exists, owner = await qdrant.recorded_owner(client, name)
            if not exists:
                return EventNote("Normal", "Deleted", f"Qdrant collection {name} was already gone")
            verdict = claim(owner, _me(ctx), _managed_before(ctx, name), spec.adopt_existing)
            if verdict in (Claim.ELSEWHERE, Claim.UNOWNED):
                whose = owner.describe() if owner is not None else "no VectorCollection (no ownership record)"
                return EventNote(
                    "Warning", Reason.NOT_OWNED.value, f"kept Qdrant collection {name}: it belongs to {whose}"
                )
            await qdrant.delete(client, name)
        except Exception as e:
            raise qdrant.classify(e, where) from e
        return EventNote("Normal", "Deleted", f"Deleted Qdrant collection {name} (deletionPolicy Delete)")
