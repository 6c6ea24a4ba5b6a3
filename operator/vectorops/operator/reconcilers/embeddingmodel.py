"""EmbeddingModel -> embedder Deployment + Service (server-side apply), Ready from the rollout."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vectorops.operator.adapters.embedder_probe import EmbedderProbe, ProbeFailed
from vectorops.operator.adapters.kube import KubeFailure, KubeWriter
from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.kinds import EMBEDDING_MODEL, VECTOR_STORE
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.embedder_autoscaling import build_autoscaler
from vectorops.operator.builders.embedder_monitoring import (
    MONITORING_API,
    alert_rules,
    build_pod_monitor,
    rule_group,
)
from vectorops.operator.builders.embedder_workload import (
    MODEL_LABEL,
    SERVICE_PORT,
    Manifest,
    build_deployment,
    build_service,
    endpoint_url,
    labels,
    model_identity,
    workload_name,
)
from vectorops.operator.builders.references import Reference, RefKind, embeddingmodel_references
from vectorops.operator.builders.routes import Contribution, embeddingmodel_offer, source_of
from vectorops.operator.reconcilers.alerts import RuleSync
from vectorops.operator.reconcilers.children import apply_or_prune, owner_reference
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.reconcilers.routes import RouteSync, routed_condition
from vectorops.operator.status.conditions import ConditionUpdate
from vectorops.operator.status.pods import pod_problem
from vectorops.operator.status.readiness import Problem, references_condition


def rollout_condition(deployment: dict[str, Any]) -> ConditionUpdate:
    """Ready from the Deployment: only once its controller has seen the current generation."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    generation = int((deployment.get("metadata") or {}).get("generation", 0))
    seen = int(status.get("observedGeneration") or 0) >= generation
    updated, available = int(status.get("updatedReplicas") or 0), int(status.get("availableReplicas") or 0)
    ready = int(status.get("readyReplicas") or 0)
    if desired == 0:
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.FALSE,
            Reason.SCALED_TO_ZERO.value,
            "the embedder is scaled to zero replicas",
        )
    if seen and updated >= desired and available >= desired:
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.TRUE,
            Reason.AVAILABLE.value,
            f"{ready}/{desired} embedder replicas ready",
        )
    return ConditionUpdate(
        ConditionType.READY.value,
        ConditionStatus.FALSE,
        Reason.ROLLING_OUT.value,
        f"{ready}/{desired} embedder replicas ready, {updated} updated",
    )


@dataclass
class EmbedderReconciler:
    writer: KubeWriter
    probe: EmbedderProbe
    image: str
    default_store: str | None
    routes: RouteSync | None = None
    rules: RuleSync | None = None  # default: one over `writer`

    def __post_init__(self) -> None:
        self._rules = self.rules or RuleSync(self.writer)
        self._notes: dict[str, list[EventNote]] = {}  # uid -> Events of this pass's optional children

    async def _redis_secret(
        self, ctx: Context, spec: EmbeddingModelSpec
    ) -> tuple[SecretKeyRef | None, list[Problem]]:
        store_name = spec.store_ref.name if spec.store_ref else self.default_store
        if not store_name or (spec.cache is not None and not spec.cache.enabled):
            return None, []
        store = await ctx.kube.get_custom_object(VECTOR_STORE.plural, ctx.namespace, store_name)
        redis = VectorStoreSpec.model_validate((store or {}).get("spec") or {}).redis if store else None
        if redis is None:
            return None, []  # no Redis in the store: the embedder runs with its in-process cache only
        ref = redis.url_secret_ref
        missing = await resolve(
            [Reference(RefKind.SECRET, ref.name, "VectorStore spec.redis.urlSecretRef", ref.key)],
            ctx.namespace,
            ctx.kube,
        )
        return ref, missing

    async def _monitoring(
        self, ctx: Context, spec: EmbeddingModelSpec
    ) -> tuple[list[ConditionUpdate], list[str]]:
        """The PodMonitor (Monitoring condition) and the alert rules (Alerts condition, from the
        RuleSync: a PrometheusRule, or a rules ConfigMap where that CRD is not served). Returns the
        condition updates and the conditions to remove."""
        name, model = workload_name(ctx.name), EMBEDDING_MODEL.kind
        rules = alert_rules(ctx.name, ctx.namespace, spec)
        group = rule_group(ctx.name, ctx.namespace, rules) if rules else None
        alerts = await self._rules.sync(ctx, model, "embeddingmodel", group, name, labels(ctx.name))
        updates, removed = ([alerts], []) if alerts is not None else ([], [ConditionType.ALERTS.value])
        monitor = build_pod_monitor(ctx.name, spec)
        served = await self.writer.served(MONITORING_API, "PodMonitor")
        if served:
            await self._apply_or_prune_tracked(ctx, (MONITORING_API, "PodMonitor"), name, monitor)
        kind = ConditionType.MONITORING.value
        if monitor is None:
            update = ConditionUpdate(
                kind, ConditionStatus.TRUE, Reason.DISABLED.value, "no PodMonitor asked for"
            )
        elif not served:
            update = ConditionUpdate(
                kind,
                ConditionStatus.FALSE,
                Reason.MONITORING_CRDS_MISSING.value,
                "the Prometheus operator's CRDs (monitoring.coreos.com) are not installed: no PodMonitor; "
                "the embedder still serves /metrics",
            )
        else:
            update = ConditionUpdate(
                kind, ConditionStatus.TRUE, Reason.SYNCED.value, f"PodMonitor {name} applied"
            )
        return [update, *updates], removed

    async def _dimension(self, ctx: Context, identity: str, ready: bool) -> tuple[int | None, str | None]:
        """The served dimension: asked of the embedder once it is ready, and kept while the model's
        identity (what decides the vectors) is unchanged, whatever else changes (replicas, batching)."""
        known = ctx.status.get("dimension")
        if known is not None and ctx.status.get("modelIdentity") == identity:
            return int(known), None
        if not ready:
            return None, None
        try:
            return await self.probe.dimension(ctx.namespace, workload_name(ctx.name), SERVICE_PORT), None
        except ProbeFailed as e:
            return None, str(e)

    async def _apply_tracked(self, ctx: Context, manifest: Manifest) -> tuple[Manifest, str | None]:
        """Apply a child; say whether that created it ("created") or changed it ("changed")."""
        meta = manifest["metadata"]
        meta |= {"namespace": ctx.namespace, "ownerReferences": [owner_reference(ctx, EMBEDDING_MODEL.kind)]}
        before = await self.writer.get(manifest["apiVersion"], manifest["kind"], ctx.namespace, meta["name"])
        after = await self.writer.apply(manifest, ctx.namespace)
        if before is None:
            return after, "created"
        return after, ("changed" if _version(before) != _version(after) else None)

    async def _apply_or_prune_tracked(
        self, ctx: Context, kind: tuple[str, str], name: str, manifest: Manifest | None
    ) -> None:
        """An optional child (HPA, PodMonitor): applied and tracked like the workload (its Event queued
        for this pass), or pruned when the spec no longer asks for it."""
        if manifest is None:
            await apply_or_prune(self.writer, ctx, EMBEDDING_MODEL.kind, kind, name, None)
            return
        _, change = await self._apply_tracked(ctx, manifest)
        note = _child_event(ctx, kind[1], name, change)
        if note is not None:
            self._notes.setdefault(ctx.uid, []).append(note)

    async def _apply_workload(
        self, ctx: Context, spec: EmbeddingModelSpec, redis_ref: SecretKeyRef | None
    ) -> tuple[Manifest, list[EventNote]]:
        name = workload_name(ctx.name)
        deployment, created = await self._apply_tracked(
            ctx, build_deployment(ctx.name, spec, self.image, redis_ref)
        )
        _, service_created = await self._apply_tracked(ctx, build_service(ctx.name))
        hpa = ("autoscaling/v2", "HorizontalPodAutoscaler")
        await self._apply_or_prune_tracked(ctx, hpa, name, build_autoscaler(ctx.name, spec))
        events = []
        for kind, change in (("Deployment", created), ("Service", service_created)):
            note = _child_event(ctx, kind, name, change)
            if note is not None:
                events.append(note)
        return deployment, events

    async def reconcile(self, ctx: Context) -> Outcome:
        spec = EmbeddingModelSpec.model_validate(ctx.spec)
        problems = await resolve(embeddingmodel_references(spec, self.default_store), ctx.namespace, ctx.kube)
        redis_ref, secret_problems = (None, []) if problems else await self._redis_secret(ctx, spec)
        problems += secret_problems
        if problems:
            failed = ConditionUpdate(
                ConditionType.READY.value,
                ConditionStatus.FALSE,
                problems[0].reason,
                "; ".join(p.message for p in problems),
            )
            return outcome(ctx, [references_condition(problems), failed])
        try:
            applied, events = await self._apply_workload(ctx, spec, redis_ref)
            monitoring, removed = await self._monitoring(ctx, spec)
        except KubeFailure as e:
            failed = ConditionUpdate(
                ConditionType.READY.value,
                ConditionStatus.FALSE,
                e.reason,
                f"applying the embedder failed: {e.message}",
            )
            return outcome(ctx, [references_condition([]), failed])
        rollout = await self._why_not_rolled_out(ctx, rollout_condition(applied))
        identity = model_identity(spec)
        dimension, unknown = await self._dimension(ctx, identity, rollout.status is ConditionStatus.TRUE)
        if unknown is not None:
            rollout = replace(rollout, message=f"{rollout.message}; dimension not known yet: {unknown}")
        if dimension is not None and spec.dimension is not None and dimension != spec.dimension:
            rollout = ConditionUpdate(
                ConditionType.READY.value,
                ConditionStatus.FALSE,
                Reason.DIMENSION_MISMATCH.value,
                f"the embedder serves {dimension}-dimensional vectors but spec.dimension declares "
                f"{spec.dimension}: correct spec.dimension (collections bound to this model take the served "
                "dimension)",
            )
        routed = await self._route(ctx, spec, rollout.status is ConditionStatus.TRUE, dimension)
        status = applied.get("status") or {}
        extra = {
            "replicas": int((applied.get("spec") or {}).get("replicas", status.get("replicas") or 0)),
            "readyReplicas": int(status.get("readyReplicas") or 0),
            "endpoint": endpoint_url(ctx.name, ctx.namespace),
            "dimension": dimension,
            "modelIdentity": identity,
        }
        updates = [references_condition([]), *monitoring, routed, rollout]
        events += self._notes.pop(ctx.uid, []) + self._rules.take_events(ctx.uid)
        if self.routes is not None:
            events += self.routes.take_events(ctx.namespace)
        return outcome(ctx, updates, extra, events, remove=removed)

    async def _why_not_rolled_out(self, ctx: Context, rollout: ConditionUpdate) -> ConditionUpdate:
        """A rollout that is not done, with the reason its pods give when one is stuck (crash-looping
        on a model that does not load, an image that cannot be pulled): RollingOut would hide it."""
        if rollout.reason != Reason.ROLLING_OUT.value:
            return rollout
        try:
            pods = await self.writer.list_pods(ctx.namespace, f"{MODEL_LABEL}={ctx.name}")
        except KubeFailure:
            return rollout  # no pod to read (or no right to): the Deployment's view is what we have
        problem = pod_problem(pods)
        if problem is None:
            return rollout
        return ConditionUpdate(
            ConditionType.READY.value,
            ConditionStatus.FALSE,
            problem.reason,
            f"{problem.message} ({rollout.message})",
        )

    async def _route(
        self, ctx: Context, spec: EmbeddingModelSpec, ready: bool, dimension: int | None
    ) -> ConditionUpdate:
        """Offer the model to the namespace's route table once it serves; the Routed condition says how
        that went (it does not change Ready: the embedder serves either way)."""
        if self.routes is None:
            return ConditionUpdate(
                ConditionType.ROUTED.value, ConditionStatus.UNKNOWN, "NoRouteTable", "not compiled"
            )
        source = source_of(EMBEDDING_MODEL.kind, ctx.name)
        own = (
            embeddingmodel_offer(ctx.name, ctx.namespace, spec, dimension)
            if ready
            else Contribution(source, ())
        )
        verdict, table = await self.routes.sync(ctx.namespace, ctx.indexes, own)
        version = table.version() if table else None
        return routed_condition(verdict, bool(own.offers or own.unroutable), version, "not Ready")


def _version(obj: Manifest) -> object:
    """What moves when an object's spec changes: the generation where the kind keeps one (a Deployment's
    does not move for status writes), else the resourceVersion."""
    meta = obj.get("metadata") or {}
    return meta.get("generation") or meta.get("resourceVersion")


def _child_event(ctx: Context, kind: str, name: str, change: str | None) -> EventNote | None:
    # status.endpoint is written only after a pass applied the workload: before it, nothing of ours
    # existed, so a missing child is new, not deleted by hand. An unchanged spec (observedGeneration)
    # means the change we just made undid someone else's.
    applied_before = ctx.status.get("endpoint") is not None
    spec_unchanged = ctx.status.get("observedGeneration") == ctx.generation
    if change == "created" and applied_before and spec_unchanged:
        return EventNote(
            "Warning",
            Reason.DRIFT_REPAIRED.value,
            f"{kind} {name} was missing (deleted by hand?); recreated it",
        )
    if change == "created":
        return EventNote("Normal", Reason.CREATED.value, f"Created {kind} {name}")
    if change == "changed" and spec_unchanged and applied_before:
        return EventNote(
            "Warning",
            Reason.DRIFT_REPAIRED.value,
            f"{kind} {name} was changed outside the operator; restored what the EmbeddingModel declares",
        )
    if change == "changed":
        return EventNote("Normal", Reason.UPDATED.value, f"Updated {kind} {name}")
    return None
