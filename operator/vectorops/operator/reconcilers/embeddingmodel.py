"""EmbeddingModel -> embedder Deployment + Service (server-side apply), Ready from the rollout."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vectorops.operator.adapters.embedder_probe import EmbedderProbe, ProbeFailed
from vectorops.operator.adapters.kube import KubeWriter
from vectorops.operator.api.base import SecretKeyRef
from vectorops.operator.api.conditions import ConditionStatus, ConditionType, Reason
from vectorops.operator.api.embeddingmodel import EmbeddingModelSpec
from vectorops.operator.api.kinds import API_VERSION, EMBEDDING_MODEL, VECTOR_STORE
from vectorops.operator.api.vectorstore import VectorStoreSpec
from vectorops.operator.builders.embedder_autoscaling import build_autoscaler
from vectorops.operator.builders.embedder_monitoring import (
    MONITORING_API,
    build_pod_monitor,
    build_prometheus_rule,
)
from vectorops.operator.builders.embedder_workload import (
    SERVICE_PORT,
    Manifest,
    build_deployment,
    build_service,
    endpoint_url,
    workload_name,
)
from vectorops.operator.builders.references import Reference, RefKind, embeddingmodel_references
from vectorops.operator.reconcilers.outcome import Context, EventNote, Outcome, outcome
from vectorops.operator.reconcilers.references import resolve
from vectorops.operator.status.conditions import ConditionUpdate
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

    async def _apply_or_prune(
        self, ctx: Context, kind: tuple[str, str], name: str, manifest: Manifest | None
    ) -> None:
        """Apply the child, or delete one we made earlier that the spec no longer asks for."""
        if manifest is not None:
            manifest["metadata"] |= {"namespace": ctx.namespace, "ownerReferences": [_owner(ctx)]}
            await self.writer.apply(manifest, ctx.namespace)
            return
        existing = await self.writer.get(kind[0], kind[1], ctx.namespace, name)
        owners = ((existing or {}).get("metadata") or {}).get("ownerReferences") or []
        if any(o.get("uid") == ctx.uid for o in owners):  # never someone else's object of that name
            await self.writer.delete(kind[0], kind[1], ctx.namespace, name)

    async def _monitoring(self, ctx: Context, spec: EmbeddingModelSpec) -> ConditionUpdate:
        name = workload_name(ctx.name)
        monitor = build_pod_monitor(ctx.name, spec)
        rule = build_prometheus_rule(ctx.name, ctx.namespace, spec)
        served = await self.writer.served(MONITORING_API, "PodMonitor")
        if served:
            await self._apply_or_prune(ctx, (MONITORING_API, "PodMonitor"), name, monitor)
            await self._apply_or_prune(ctx, (MONITORING_API, "PrometheusRule"), name, rule)
        kind = ConditionType.MONITORING.value
        if monitor is None and rule is None:
            return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.DISABLED.value, "monitoring is off")
        if not served:
            return ConditionUpdate(
                kind,
                ConditionStatus.FALSE,
                Reason.MONITORING_CRDS_MISSING.value,
                "the Prometheus operator's CRDs (monitoring.coreos.com) are not installed: "
                "no PodMonitor or PrometheusRule; the embedder still serves /metrics",
            )
        made = " and ".join(k for k, m in (("PodMonitor", monitor), ("PrometheusRule", rule)) if m)
        return ConditionUpdate(kind, ConditionStatus.TRUE, Reason.SYNCED.value, f"{made} {name} applied")

    async def _dimension(self, ctx: Context, ready: bool) -> tuple[int | None, str | None]:
        """The served dimension: asked of the embedder once it is ready; kept while the spec is unchanged."""
        known = ctx.status.get("dimension")
        same_spec = ctx.status.get("observedGeneration") == ctx.generation
        if known is not None and same_spec:
            return int(known), None
        if not ready:
            return None, None
        try:
            return await self.probe.dimension(ctx.namespace, workload_name(ctx.name), SERVICE_PORT), None
        except ProbeFailed as e:
            return None, str(e)

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
        deployment = build_deployment(ctx.name, spec, self.image, redis_ref)
        service = build_service(ctx.name)
        for manifest in (deployment, service):
            manifest["metadata"] |= {"namespace": ctx.namespace, "ownerReferences": [_owner(ctx)]}
        name = deployment["metadata"]["name"]
        existed = await self.writer.get("apps/v1", "Deployment", ctx.namespace, name) is not None
        applied = await self.writer.apply(deployment, ctx.namespace)
        await self.writer.apply(service, ctx.namespace)
        await self._apply_or_prune(
            ctx, ("autoscaling/v2", "HorizontalPodAutoscaler"), name, build_autoscaler(ctx.name, spec)
        )
        monitoring = await self._monitoring(ctx, spec)
        events = []
        if not existed and ctx.status.get("observedGeneration") is not None:
            events.append(
                EventNote(
                    "Warning",
                    Reason.DRIFT_REPAIRED.value,
                    f"Deployment {name} was missing (deleted by hand?); recreated it",
                )
            )
        elif not existed:
            events.append(EventNote("Normal", Reason.CREATED.value, f"Created Deployment and Service {name}"))
        rollout = rollout_condition(applied)
        dimension, unknown = await self._dimension(ctx, rollout.status is ConditionStatus.TRUE)
        if unknown is not None:
            rollout = replace(rollout, message=f"{rollout.message}; dimension not known yet: {unknown}")
        status = applied.get("status") or {}
        extra = {
            "replicas": int((applied.get("spec") or {}).get("replicas", status.get("replicas") or 0)),
            "readyReplicas": int(status.get("readyReplicas") or 0),
            "endpoint": endpoint_url(ctx.name, ctx.namespace),
            "dimension": dimension,
        }
        return outcome(ctx, [references_condition([]), monitoring, rollout], extra, events)


def _owner(ctx: Context) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": EMBEDDING_MODEL.kind,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
